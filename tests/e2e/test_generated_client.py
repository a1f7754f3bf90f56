"""Issue 22, acceptance 1: a client generated from /openapi.json by openapi-python-client installs and drives a
contract on the real server (`lvyue serve`) through its `list_tasks` and `complete_task`.

The generator and the generated package live in a virtualenv of their own under the test's tmp folder, installed
from PyPI (the project's venv is left alone: the generator is not a dependency of Lvyue); the generation uses
docs/openapi-python-client.yaml, as a department's IT team would. Everything after the spec is fetched runs in
that venv's Python. Marked `slow` (about 15 s: a venv, two pip installs, the server) and run in the normal suite;
it needs PyPI (or a pip index configured for it).
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import time

import pytest

from engine.storage.db import Database
from tests import requests_shim as http
from tests.conftest import ROOT, Server, fixture_bytes, seed_people

GENERATOR = "openapi-python-client==0.29.1"
BUDGET_SECONDS = 90

DRIVER = textwrap.dedent('''
    import io, json, sys
    from lvyue_api_client import AuthenticatedClient
    from lvyue_api_client.api.definitions import deploy_definition
    from lvyue_api_client.api.instances import get_instance, start_instance
    from lvyue_api_client.api.tasks import complete_task, list_tasks
    from lvyue_api_client.models import CompleteIn, CompleteInData, DeployDefinitionFilesBody, Problem, StartIn, StartInData
    from lvyue_api_client.types import File

    base, tokens, diagram = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
    as_ = lambda who: AuthenticatedClient(base_url=base, token=tokens[who], raise_on_unexpected_status=True)
    out = {}
    with open(diagram, "rb") as f:
        body = DeployDefinitionFilesBody(file=File(payload=io.BytesIO(f.read()), file_name="approval.bpmn"))
    deployed = deploy_definition.sync_detailed(client=as_("designer"), body=body)
    out["deployed"] = deployed.status_code
    started = start_instance.sync(client=as_("operator"), body=StartIn(
        definition="variation_approval", business_key="GEN-1",
        data=StartInData.from_dict({"employer": "EMP", "contractor": "CON"})))
    out["instance"] = started.id

    # The contractor lists its tasks and completes the request; the employer then approves it.
    page = list_tasks.sync(client=as_("con"), instance_id=started.id)
    out["con_tasks"] = [t.element_id for t in page.items]
    done = complete_task.sync(page.items[0].id, client=as_("con"),
                              body=CompleteIn(data=CompleteInData.from_dict({"amount": "10.50", "reason": "more piles"})))
    out["after_request"] = [t.element_id for t in done.instance.tasks]
    # A refused completion comes back as the documented problem+json, parsed.
    refused = complete_task.sync(page.items[0].id, client=as_("con"),
                                 body=CompleteIn(data=CompleteInData.from_dict({"amount": "10.50", "reason": "again"})))
    out["again"] = [type(refused).__name__, refused.status if isinstance(refused, Problem) else None]
    [approve] = list_tasks.sync(client=as_("emp"), instance_id=started.id).items
    finished = complete_task.sync(approve.id, client=as_("emp"),
                                  body=CompleteIn(data=CompleteInData.from_dict({"approved": True})))
    out["finished"] = finished.instance.status
    got = get_instance.sync(started.id, client=as_("emp"))
    out["data"] = got.data.to_dict()
    print(json.dumps(out))
''')


def _run(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(args, capture_output=True, text=True, timeout=BUDGET_SECONDS, **kwargs)
    assert done.returncode == 0, f"{args[:3]}…\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.mark.slow
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the client is what is tested; one database suffices
def test_a_generated_client_lists_and_completes_tasks_on_the_real_server(db_url, tmp_path):
    started = time.monotonic()
    venv = tmp_path / "client-venv"
    _run([sys.executable, "-m", "venv", str(venv)])
    python, bin_dir = venv / "bin" / "python", venv / "bin"
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("PYTHONPATH", None)
    _run([str(python), "-m", "pip", "install", "-q", GENERATOR], env=env)

    server = Server(db_url, tmp_path).start()
    try:
        database = Database(db_url)
        people = seed_people(database)
        database.dispose()
        spec = http.request("GET", server.base + "/openapi.json").json()
        (tmp_path / "openapi.json").write_text(json.dumps(spec), encoding="utf-8")
        generated = _run([str(bin_dir / "openapi-python-client"), "generate", "--path", str(tmp_path / "openapi.json"),
                          "--config", str(ROOT / "docs" / "openapi-python-client.yaml"), "--meta", "setup"],
                         cwd=tmp_path, env=env)
        # Only what docs/openapi-python-client.yaml says it cannot take: raw XML request bodies (the multipart
        # upload is generated instead).
        warned = set(re.findall(r"WARNING parsing (\w+ \S+)", generated.stdout + generated.stderr))
        assert warned == {"POST /api/v1/definitions", "POST /api/v1/definitions/validate"}
        package = tmp_path / "lvyue-api-client"
        assert (package / "lvyue_api_client" / "api" / "tasks" / "list_tasks.py").is_file()
        assert (package / "lvyue_api_client" / "api" / "tasks" / "complete_task.py").is_file()
        _run([str(python), "-m", "pip", "install", "-q", str(package)], env=env)
        # Installed as a distribution (not read from the source folder): run from elsewhere.
        shown = _run([str(python), "-m", "pip", "show", "lvyue-api-client"], env=env, cwd=venv)
        assert "Name: lvyue-api-client" in shown.stdout

        tokens = {who: people.tokens[who] for who in ("designer", "operator", "con", "emp")}
        (tmp_path / "drive.py").write_text(DRIVER, encoding="utf-8")
        diagram = tmp_path / "approval.bpmn"
        diagram.write_bytes(fixture_bytes("approval.bpmn"))
        done = _run([str(python), str(tmp_path / "drive.py"), server.base, json.dumps(tokens), str(diagram)],
                    env=env, cwd=venv)
        out = json.loads(done.stdout.strip().splitlines()[-1])
        # What the client did is what the server recorded.
        recorded = http.request("GET", f"{server.base}/api/v1/instances/{out['instance']}", headers=people.auth("admin"))
        assert recorded.json()["status"] == "completed" and recorded.json()["business_key"] == "GEN-1"
    finally:
        server.kill()
    assert out["deployed"] == 201
    assert out["con_tasks"] == ["request_variation"] and out["after_request"] == ["approve_variation"]
    assert out["again"] == ["Problem", 409]
    assert out["finished"] == "completed" and out["data"]["amount"] == "10.50" and out["data"]["approved"] is True
    assert time.monotonic() - started < BUDGET_SECONDS
