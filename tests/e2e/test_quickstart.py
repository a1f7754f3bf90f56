"""The README's first command on a fresh instance folder: demo seeded, tokens printed, server up."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time

from tests import requests_shim as http
from tests.conftest import ROOT, free_port


def test_dev_serve_seeds_the_demo_prints_tokens_and_answers_healthz(tmp_path):
    port = free_port()
    env = dict(os.environ, LVYUE_INSTANCE_PATH=str(tmp_path / "instance"))
    env.pop("DATABASE_URL", None)
    log = tmp_path / "serve.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(["./dev", "serve", "--port", str(port)], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline, healthy = time.monotonic() + 180, False
        while time.monotonic() < deadline and not healthy:
            try:
                healthy = http.request("GET", f"http://127.0.0.1:{port}/healthz").status == 200
            except OSError:
                time.sleep(0.2)
        assert healthy, log.read_text()
        text = log.read_text()
        tokens = dict(re.findall(r"^\s+(\S+)\s+\S+\s+.*?(lvy_\S+)$", text, re.M))
        assert {"admin", "operator", "designer", "zj-supervisor"} <= set(tokens), text
        r = http.request("GET", f"http://127.0.0.1:{port}/api/v1/definitions",
                         headers={"Authorization": f"Bearer {tokens['designer']}"})
        assert r.status == 200
        assert "contract_signing" in [d["key"] for d in r.json()["items"]]
        assert (tmp_path / "instance" / "lvyue.sqlite").exists()
    finally:
        os.killpg(proc.pid, 9)
        proc.wait(10)


def test_users_add_prints_the_token_alone_on_the_last_line(tmp_path):
    env = dict(os.environ, LVYUE_INSTANCE_PATH=str(tmp_path / "i"))
    env.pop("DATABASE_URL", None)
    run = lambda *args: subprocess.run([sys.executable, "-m", "api.cli", *args], cwd=ROOT, env=env,
                                       capture_output=True, text=True, check=True)
    run("db", "upgrade")
    run("orgs", "add", "EMP", "--name", "A school")
    out = run("users", "add", "alice", "--role", "party", "--org", "EMP").stdout
    token = out.strip().splitlines()[-1]
    assert re.fullmatch(r"lvy_[A-Za-z0-9_-]{40,}", token)
    assert token not in (tmp_path / "i" / "lvyue.sqlite").read_bytes().decode("latin-1")
    bad = subprocess.run([sys.executable, "-m", "api.cli", "users", "add", "bob", "--role", "party", "--org", "NOPE"],
                         cwd=ROOT, env=env, capture_output=True, text=True)
    assert bad.returncode == 1 and "organisation" in bad.stderr
