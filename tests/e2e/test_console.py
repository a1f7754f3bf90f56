"""The console of `./dev serve` (= `lvyue demo --tokens-file F` then `lvyue serve --demo-tokens F`, the two commands
run here on a fresh instance folder): the start-up ends with one block naming the pages' URLs and the demo tokens,
the libraries stay quiet while idle (APScheduler at INFO alone writes a line per job run, several a second), and
each request writes one key=value access line."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time

from tests import requests_shim as http
from tests.conftest import ROOT, free_port

IDLE_SECONDS = 20  # measured, then scaled to a minute: the acceptance bound is 20 lines a minute


def _cli(env, *args, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "api.cli", *args], cwd=ROOT, env=env, **kwargs)


class Lines:
    """The server's stdout+stderr, line by line, with when each arrived."""

    def __init__(self, stream):
        self.lines: list[tuple[float, str]] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream):
        for raw in stream:
            self.lines.append((time.monotonic(), raw.rstrip("\n")))

    def text(self) -> list[str]:
        return [line for _, line in list(self.lines)]

    def since(self, t: float) -> list[str]:
        return [line for at, line in list(self.lines) if at >= t]


def test_dev_serve_ends_start_up_with_urls_and_tokens_and_stays_quiet_while_idle(tmp_path):
    dev = (ROOT / "dev").read_text()
    assert 'demo --tokens-file "$tokens"' in dev and 'serve --demo-tokens "$tokens"' in dev, "./dev serve changed"
    env = dict(os.environ, LVYUE_INSTANCE_PATH=str(tmp_path / "instance"), PYTHONUNBUFFERED="1")
    env.pop("DATABASE_URL", None)
    tokens_file = tmp_path / "instance" / "demo-tokens.txt"
    demo = subprocess.run([sys.executable, "-m", "api.cli", "demo", "--tokens-file", str(tokens_file)], cwd=ROOT,
                          env=env, capture_output=True, text=True, check=True)
    assert oct(tokens_file.stat().st_mode & 0o777) == "0o600"
    demo_tokens = dict(re.findall(r"^\s+(\S+)\s+\S+\s+.*?(lvy_\S+)$", demo.stdout, re.M))
    assert {"admin", "school", "builder", "zj-supervisor"} <= set(demo_tokens)

    port = free_port()
    proc = _cli(env, "serve", "--port", str(port), "--demo-tokens", str(tokens_file), stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out = Lines(proc.stdout)
        deadline = time.monotonic() + 60
        # Ready when the closing rule of the start-up block is printed (not by polling, which would log).
        while time.monotonic() < deadline and sum(1 for line in out.text() if line.startswith("=" * 72)) < 2:
            assert proc.poll() is None, "\n".join(out.text())
            time.sleep(0.1)
        start_up = out.text()
        assert sum(1 for line in start_up if line.startswith("=" * 72)) == 2, "\n".join(start_up)
        block = start_up[start_up.index("=" * 72):]
        assert block[-1] == "=" * 72 and len(start_up) - len(block) < 10, "\n".join(start_up)
        base = f"http://127.0.0.1:{port}"
        for path in ("/", "/tasks", "/contracts", "/dashboard", "/modeler", "/docs"):
            assert any(line.split()[:1] == [base + path] for line in block), (path, block)
        # The last lines are the tokens, the same the demo issued, and they work.
        shown = dict(re.findall(r"^\s+(\S+)\s+\S+\s+.*?(lvy_\S+)$", "\n".join(block[-13:]), re.M))
        assert shown == demo_tokens
        r = http.request("GET", base + "/api/v1/tasks", headers={"Authorization": f"Bearer {shown['school']}"})
        assert r.status == 200

        # Idle: the scheduler sweeps every second; what reaches the console in IDLE_SECONDS, scaled to a minute.
        time.sleep(1)
        quiet_from = time.monotonic()
        time.sleep(IDLE_SECONDS)
        idle = out.since(quiet_from)
        per_minute = len(idle) * 60 / IDLE_SECONDS
        assert per_minute < 20, idle
        assert not any("apscheduler" in line or "spiff" in line for line in idle), idle

        # One structured access line per request, naming the caller but never the token or the query.
        before = len(out.text())
        r = http.request("GET", base + "/api/v1/tasks?limit=5", headers={"Authorization": f"Bearer {shown['school']}"})
        assert r.status == 200
        time.sleep(0.5)
        new = out.text()[before:]
        assert len(new) == 1, new
        fields = dict(re.findall(r'(\w+)=("[^"]*"|\S+)', new[0]))
        assert fields["method"] == "GET" and fields["path"] == '"/api/v1/tasks"' and fields["status"] == "200"
        assert fields["user"] == '"school"' and fields["request_id"] == r.headers["X-Request-Id"]
        assert float(fields["ms"]) >= 0 and shown["school"] not in new[0] and "limit" not in new[0]
    finally:
        os.killpg(proc.pid, 9)
        proc.wait(10)


def test_log_level_info_lets_the_scheduler_speak(tmp_path):
    """The same server at `--log-level INFO`: APScheduler's job lines appear (so the quiet above is the option's)."""
    env = dict(os.environ, LVYUE_INSTANCE_PATH=str(tmp_path / "instance"), PYTHONUNBUFFERED="1")
    env.pop("DATABASE_URL", None)
    subprocess.run([sys.executable, "-m", "api.cli", "db", "upgrade"], cwd=ROOT, env=env, check=True,
                   capture_output=True)
    proc = _cli(env, "serve", "--port", str(free_port()), "--log-level", "INFO", stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out = Lines(proc.stdout)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any("apscheduler" in line for line in out.text()):
            time.sleep(0.2)
        assert any("apscheduler" in line for line in out.text()), out.text()
    finally:
        os.killpg(proc.pid, 9)
        proc.wait(10)
