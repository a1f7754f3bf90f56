"""The process's settings (engine/settings.py): read once from the environment, strictly, and no module
reads the environment when it is imported."""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from engine.runtime import anchor, scheduler, timers
from engine.supervision import ocds
from engine.settings import DEFAULT_INSTANCE_PATH, Settings, SettingsError

ROOT = Path(__file__).resolve().parents[2]

# Imports every module of engine/ with os.environ replaced by a mapping that raises on any use, also
# through the standard library (urllib's proxy lookup is one). The third-party modules they load are
# imported first (listed by a plain import in another interpreter): their own import-time reads are not
# ours to judge. (api/ is held to the stricter rule below: click reads LANGUAGE while its decorators run.)
_LIST_MODULES = """
import importlib, json, pkgutil, sys
import engine
names = ["engine"] + [m.name for m in pkgutil.walk_packages(engine.__path__, "engine.")]
for name in names:
    importlib.import_module(name)
ours = ("engine", "api", "tests")
print(json.dumps({"ours": names, "theirs": sorted(m for m in sys.modules if m.split(".")[0] not in ours)}))
"""

_IMPORT_GUARDED = """
import importlib, json, os, sys
modules = json.loads(sys.stdin.read())
for name in modules["theirs"]:
    try:
        importlib.import_module(name)
    except Exception:
        pass

class Untouchable(dict):
    def _read(self, *args, **kwargs):
        raise RuntimeError("the environment was read at import time")
    __getitem__ = __contains__ = __iter__ = __len__ = get = keys = items = values = copy = _read

os.environ = Untouchable()
for name in modules["ours"]:
    try:
        importlib.import_module(name)
    except RuntimeError as exc:
        sys.exit(f"{name}: {exc}")
print("ok")
"""


def _python(code: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], input=stdin, capture_output=True, text=True, cwd=ROOT,
                          timeout=120)


def test_importing_any_module_of_engine_reads_no_environment():
    listed = _python(_LIST_MODULES)
    assert listed.returncode == 0, listed.stderr
    modules = json.loads(listed.stdout)
    assert "engine.settings" in modules["ours"] and "engine.runtime.scheduler" in modules["ours"]
    guarded = _python(_IMPORT_GUARDED, listed.stdout)
    assert guarded.returncode == 0 and guarded.stdout.strip() == "ok", guarded.stderr[-2000:]


def test_the_guard_catches_a_module_that_reads_the_environment_at_import(tmp_path):
    # The check above can fail: a module with a module-level os.environ read is reported by name.
    (tmp_path / "reads_env.py").write_text('import os\nLEASE = os.environ.get("LVYUE_TIMER_LEASE_SECONDS", "60")\n')
    code = f"import sys; sys.path.insert(0, {str(tmp_path)!r})\n" + _IMPORT_GUARDED
    result = _python(code, json.dumps({"ours": ["reads_env"], "theirs": []}))
    assert result.returncode != 0 and "reads_env: the environment was read at import time" in result.stderr


def _environment_reads(path: Path) -> list[str]:
    """The functions of a module that mention os.environ / os.getenv ("<module>" for module level)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []

    def visit(node, where):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            where = node.name
        if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv", "environb") or (
                isinstance(node, ast.alias) and node.name in ("environ", "getenv")):
            found.append(where)
        for child in ast.iter_child_nodes(node):
            visit(child, where)

    visit(tree, "<module>")
    return found


def test_the_environment_is_read_in_two_places_only_at_start_up():
    # create_app (a WSGI server's entry) and the lvyue command group each read it once, into Settings.
    reads = {f"{p.relative_to(ROOT)}:{where}" for package in ("engine", "api") for p in (ROOT / package).rglob("*.py")
             for where in _environment_reads(p)}
    assert reads == {"api/__init__.py:create_app", "api/cli.py:main"}


def test_the_defaults_are_the_modules_own_constants():
    s = Settings.from_env({})
    assert s == Settings()
    assert (s.database_url, s.instance_path, s.audit_anchor) == (None, DEFAULT_INSTANCE_PATH, None)
    assert (s.sweep_seconds, s.delivery_seconds, s.audit_anchor_seconds) == (
        scheduler.SWEEP_SECONDS, scheduler.DELIVERY_SECONDS, scheduler.ANCHOR_SECONDS)
    assert (timedelta(seconds=s.timer_lease_seconds), s.timer_fire_group) == (timers.LEASE, timers.FIRE_GROUP)
    assert s.ocid_prefix == ocds.DEFAULT_PREFIX == "ocds-xxxxxx-"  # a placeholder of the registered form
    assert s.anchor_path == DEFAULT_INSTANCE_PATH / anchor.FILENAME


def test_every_documented_variable_is_read():
    environ = {"DATABASE_URL": "postgresql://lvyue@db/lvyue", "LVYUE_INSTANCE_PATH": "/srv/lvyue",
               "LVYUE_SWEEP_SECONDS": "0.2", "LVYUE_DELIVERY_SECONDS": "0.5", "LVYUE_TIMER_LEASE_SECONDS": "5",
               "LVYUE_TIMER_FIRE_GROUP": "7", "LVYUE_AUDIT_ANCHOR": "/worm/anchor.jsonl",
               "LVYUE_AUDIT_ANCHOR_SECONDS": "0", "LVYUE_OCID_PREFIX": "ocds-a1b2c3-",
               "LVYUE_OCDS_PUBLISHER": "浙江省财政厅", "LVYUE_OCDS_SCHEMA_DIR": "/srv/ocds", "LVYUE_STREAMS_MAX": "3", "LVYUE_STREAMS_PER_TOKEN": "1",
               "LVYUE_STREAM_MAX_SECONDS": "60", "LVYUE_STEP_MAX_TASKS": "50", "LVYUE_STEP_MAX_SECONDS": "0.5",
               "PATH": "/usr/bin", "LVYUE_UNKNOWN": "x"}
    s = Settings.from_env(environ)
    assert set(Settings.variables()) == set(environ) - {"PATH", "LVYUE_UNKNOWN"}
    assert s == Settings(database_url="postgresql://lvyue@db/lvyue", instance_path=Path("/srv/lvyue"),
                         sweep_seconds=0.2, delivery_seconds=0.5, timer_lease_seconds=5.0, timer_fire_group=7,
                         audit_anchor=Path("/worm/anchor.jsonl"), audit_anchor_seconds=0.0,
                         ocid_prefix="ocds-a1b2c3-", ocds_publisher="浙江省财政厅", ocds_schema_dir=Path("/srv/ocds"),
                         streams_max=3,
                         streams_per_token=1, stream_max_seconds=60.0, step_max_tasks=50, step_max_seconds=0.5)
    assert s.database_url_or_default() == "postgresql://lvyue@db/lvyue"
    assert s.schedule() == scheduler.Schedule(sweep_seconds=0.2, delivery_seconds=0.5, anchor_seconds=0.0,
                                              anchor_path=Path("/worm/anchor.jsonl"),
                                              timer_lease=timedelta(seconds=5), fire_group=7)


def test_an_empty_variable_is_unset():
    assert Settings.from_env({"LVYUE_SWEEP_SECONDS": "", "DATABASE_URL": "", "LVYUE_STREAMS_MAX": ""}) == Settings()


@pytest.mark.parametrize("variable, value", [
    ("LVYUE_SWEEP_SECONDS", "abc"), ("LVYUE_SWEEP_SECONDS", "0"), ("LVYUE_SWEEP_SECONDS", "-1"),
    ("LVYUE_SWEEP_SECONDS", "nan"), ("LVYUE_DELIVERY_SECONDS", "inf"), ("LVYUE_TIMER_LEASE_SECONDS", "1e999"),
    ("LVYUE_TIMER_LEASE_SECONDS", "60s"), ("LVYUE_AUDIT_ANCHOR_SECONDS", "-5"),
    ("LVYUE_AUDIT_ANCHOR_SECONDS", "hourly"),
    ("LVYUE_TIMER_FIRE_GROUP", "0"), ("LVYUE_TIMER_FIRE_GROUP", "2.5"), ("LVYUE_TIMER_FIRE_GROUP", "２０"),
    ("LVYUE_STREAMS_MAX", "-3"), ("LVYUE_STREAMS_PER_TOKEN", "two"), ("LVYUE_STREAM_MAX_SECONDS", "0"),
    ("DATABASE_URL", "   "), ("LVYUE_OCID_PREFIX", " "),
    # not of the form the Open Contracting Partnership registers (ocds- and six characters), or no hyphen after it
    ("LVYUE_OCID_PREFIX", "ocds-lvyue-"), ("LVYUE_OCID_PREFIX", "ocds-a1b2c3"), ("LVYUE_OCID_PREFIX", "ocds-A1B2C3-"),
])
def test_a_bad_value_is_refused_naming_the_variable(variable, value):
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({variable: value})
    assert str(refused.value).startswith(f"{variable} must be ") and repr(value) in str(refused.value)


def test_zero_turns_anchoring_off_but_no_interval_may_be_zero():
    assert Settings.from_env({"LVYUE_AUDIT_ANCHOR_SECONDS": "0"}).audit_anchor_seconds == 0
    with pytest.raises(SettingsError, match="LVYUE_DELIVERY_SECONDS must be a positive number of seconds"):
        Settings.from_env({"LVYUE_DELIVERY_SECONDS": "0"})


def test_override_takes_typed_values_checks_them_and_none_restores_the_default():
    s = Settings.from_env({"LVYUE_STREAMS_MAX": "3"})
    assert s.override({"LVYUE_STREAM_MAX_SECONDS": 0.5, "LVYUE_STREAMS_PER_TOKEN": 1, "TESTING": True}) == Settings(
        streams_max=3, stream_max_seconds=0.5, streams_per_token=1)
    assert s.override({"LVYUE_STREAMS_MAX": None}).streams_max is None
    assert s.override({"LVYUE_SWEEP_SECONDS": "2"}).sweep_seconds == 2.0
    for bad in ({"LVYUE_STREAMS_PER_TOKEN": True}, {"LVYUE_STREAMS_PER_TOKEN": 1.5}, {"LVYUE_SWEEP_SECONDS": -1}):
        with pytest.raises(SettingsError, match=next(iter(bad))):
            s.override(bad)
    assert s.streams_max == 3  # frozen: overriding makes a new object


def test_without_database_url_the_database_is_the_instance_folders_sqlite_file(tmp_path):
    s = Settings.from_env({"LVYUE_INSTANCE_PATH": str(tmp_path / "inst")})
    assert s.database_url_or_default() == f"sqlite:///{tmp_path / 'inst' / 'lvyue.sqlite'}"
    assert (tmp_path / "inst").is_dir()
    assert s.anchor_path == tmp_path / "inst" / anchor.FILENAME
