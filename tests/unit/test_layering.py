"""The package layout holds (ARCHITECTURE.md §1, docs/architecture.md): imports point one way, the import
graph of engine/ has no cycle, and no import hides inside a function to dodge one.

Every module under engine/ and api/ is parsed with `ast` (nothing is imported); relative imports are
resolved, and imports inside functions count like the others. Imports under `if TYPE_CHECKING:` are
annotations only and do not count.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# What each layer may import from engine/ (besides itself). clock and errors are the two leaves everyone uses.
BASE = {"engine.clock", "engine.errors"}
ALLOWED = {
    "base": set(),
    "storage": {"base"},
    "access": {"base", "storage"},
    "runtime": {"base", "storage", "access"},
    "supervision": {"base", "storage", "access", "runtime"},
    "usecases": {"base", "storage", "access", "runtime"},
    "root": {"base", "storage", "access", "runtime", "supervision", "usecases"},  # bootstrap, settings
}
# An import inside a function is allowed only with a comment on its line saying why, starting so:
LOCAL_IMPORT_REASON = re.compile(r"#\s*local import:")


def _layer(module: str) -> str:
    if module in BASE:
        return "base"
    parts = module.split(".")
    if len(parts) >= 2 and parts[1] in ALLOWED and parts[1] not in ("base", "root"):
        return parts[1]
    return "root"


def _modules(root: Path, top: str) -> dict[str, Path]:
    out = {}
    for path in sorted((root / top).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports_of(root: Path, module: str, path: Path, known: set[str]) -> list[tuple[str, int, bool, str]]:
    """(imported module, line, inside a function?, source line) for each engine/api import of a module."""
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    is_package = path.name == "__init__.py"
    out = []

    def visit(node, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for other in child.orelse:
                    visit(other, in_function)
                continue
            inside = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            targets = []
            if isinstance(child, ast.Import):
                targets = [a.name for a in child.names]
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = module.split(".") if is_package else module.split(".")[:-1]
                    base = base[:len(base) - (child.level - 1)]
                    target = ".".join(base + ([child.module] if child.module else []))
                else:
                    target = child.module or ""
                # `from pkg import mod` imports the module pkg.mod
                targets = [f"{target}.{a.name}" if f"{target}.{a.name}" in known else target for a in child.names]
            for target in targets:
                if target.split(".")[0] in ("engine", "api"):
                    out.append((target, child.lineno, in_function, lines[child.lineno - 1]))
            visit(child, inside)

    visit(ast.parse(source), False)
    return out


def graph(root: Path = ROOT) -> dict[str, list[tuple[str, int, bool, str]]]:
    modules = {**_modules(root, "engine"), **_modules(root, "api")}
    known = set(modules)
    return {m: imports_of(root, m, p, known) for m, p in modules.items()}


def layering_violations(root: Path = ROOT) -> list[str]:
    out = []
    for module, imports in graph(root).items():
        if not module.startswith("engine"):
            continue
        for target, line, _, _ in imports:
            if target.startswith("api"):
                out.append(f"{module}:{line} imports {target}: engine/ never imports api/")
                continue
            if target == "engine" or not target.startswith("engine."):
                continue
            mine, theirs = _layer(module), _layer(target)
            if theirs != mine and theirs not in ALLOWED[mine]:
                out.append(f"{module}:{line} ({mine}) imports {target} ({theirs})")
    return out


def cycles(root: Path = ROOT) -> list[list[str]]:
    """The import cycles among engine/ modules (function-level imports included), one path each."""
    g = {m: sorted({t for t, *_ in imps if t in _modules(root, "engine") and t != m})
         for m, imps in graph(root).items() if m.startswith("engine")}
    found, state, stack = [], {}, []

    def dfs(node: str) -> None:
        state[node] = "open"
        stack.append(node)
        for nxt in g.get(node, []):
            if state.get(nxt) == "open":
                found.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                dfs(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(g):
        if node not in state:
            dfs(node)
    return found


def local_imports(root: Path = ROOT) -> list[str]:
    """Imports of engine modules inside a function of engine/, without a `# local import: why` comment.
    (api/cli.py imports some commands' modules lazily to start fast; api/ is never imported by engine/,
    so those cannot close a cycle.)"""
    return [f"{module}:{line}: {text.strip()}" for module, imports in graph(root).items() if module.startswith("engine")
            for target, line, inside, text in imports
            if inside and target.startswith("engine") and not LOCAL_IMPORT_REASON.search(text)]


def test_the_runtime_storage_and_access_import_nothing_above_them_and_engine_never_imports_api():
    assert layering_violations() == []


def test_the_import_graph_of_engine_has_no_cycle():
    assert cycles() == []


def test_no_import_of_an_engine_module_hides_inside_a_function():
    assert local_imports() == []


def test_the_checks_see_what_they_must(tmp_path):
    """A runtime module importing the domain, a cycle through a function-level import, and engine/ importing
    api/ are each caught (the checks cannot pass by seeing nothing)."""
    for package in ("engine", "engine/runtime", "engine/supervision", "api"):
        (tmp_path / package).mkdir(parents=True, exist_ok=True)
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "engine/runtime/steps.py").write_text("from engine.supervision import alerts\n")
    (tmp_path / "engine/supervision/alerts.py").write_text(
        "def f():\n    from ..runtime import steps\n    from api import schemas\n")
    (tmp_path / "api/schemas.py").write_text("")
    assert layering_violations(tmp_path) == [
        "engine.runtime.steps:1 (runtime) imports engine.supervision.alerts (supervision)",
        "engine.supervision.alerts:3 imports api.schemas: engine/ never imports api/"]
    assert cycles(tmp_path) == [["engine.runtime.steps", "engine.supervision.alerts", "engine.runtime.steps"]]
    assert local_imports(tmp_path) == ["engine.supervision.alerts:2: from ..runtime import steps"]


def _shipped_element_ids() -> set[str]:
    ids = set()
    for path in (ROOT / "bpmn").glob("*.bpmn"):
        ids |= set(re.findall(r'\bid="([A-Za-z_][\w.-]*)"', path.read_text(encoding="utf-8")))
    return ids


def test_no_diagram_element_id_appears_in_the_runtime():
    """The runtime never names an element of the shipped diagrams: the domain binds to them
    (engine/supervision/bindings.py), checked at deploy."""
    ids = _shipped_element_ids()
    assert {"record_payment", "submit_invoice", "sign_contract", "verify_guarantee"} <= ids
    found = []
    for module, path in _modules(ROOT, "engine").items():
        if not module.startswith("engine.runtime"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in ids:
                found.append(f"{module}:{node.lineno}: {node.value!r}")
    assert found == []


# Modules that decide without a database (issue 15: guarantee transitions unit-tested without one). Their
# imports, followed through engine/, reach no storage, no SQLAlchemy and no SpiffWorkflow.
PURE = ("engine.supervision.guarantee_lifecycle",)
IMPURE_LIBRARIES = ("sqlalchemy", "SpiffWorkflow", "flask")


def impure_imports(module: str, root: Path = ROOT) -> list[str]:
    """What `module` reaches (through engine/ imports, transitively) of storage or of a database or workflow
    library, as "importer imports target" lines."""
    modules = _modules(root, "engine")
    edges = graph(root)
    found, seen, todo = [], set(), [module]
    while todo:
        current = todo.pop()
        if current in seen or current not in modules:
            continue
        seen.add(current)
        tree = ast.parse(modules[current].read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
            found += [f"{current} imports {n}" for n in names if n.split(".")[0] in IMPURE_LIBRARIES]
        for target, *_ in edges.get(current, []):
            if target.startswith("engine.storage"):
                found.append(f"{current} imports {target}")
            todo.append(target)
    return found


def test_the_pure_modules_reach_no_storage_and_no_database_library():
    for module in PURE:
        assert impure_imports(module) == []
    # the check sees what it must: the guarantee use cases do reach storage and SQLAlchemy
    assert any("engine.storage" in line for line in impure_imports("engine.supervision.guarantees"))
    assert any("sqlalchemy" in line for line in impure_imports("engine.supervision.guarantees"))
