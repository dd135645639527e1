"""The package's import graph: the library never imports a stage, and no module imports itself back."""

import ast
from pathlib import Path

SIF = Path(__file__).resolve().parents[1] / "sif"


def _modules() -> dict[str, Path]:
    mods = {}
    for path in SIF.rglob("*.py"):
        parts = list(path.relative_to(SIF.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = path
    return mods


def _owner(name: str, mods: dict) -> str:
    while name and name not in mods:
        name = name.rpartition(".")[0]
    return name


def import_graph() -> dict[str, set[str]]:
    """module -> the sif modules it imports anywhere in its body (function-level imports included)."""
    mods = _modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for mod, path in mods.items():
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
            for target in targets:
                owner = _owner(target, mods)
                if owner.startswith("sif") and owner != mod:
                    graph[mod].add(owner)
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_library_module_imports_a_stage():
    offenders = {m: sorted(t for t in deps if t.startswith("sif.stages"))
                 for m, deps in import_graph().items() if not m.startswith("sif.stages")}
    assert {m: t for m, t in offenders.items() if t} == {}


def test_no_import_cycle_in_sif():
    assert _cycle(import_graph()) is None


def test_the_checker_sees_a_cycle_and_a_stage_import():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
    graph = import_graph()
    assert "sif.stages._base" in graph["sif.stages.generate"]  # the parser resolves `from sif.stages._base import`
    assert "sif.generate.split" in graph["sif.generate.dataset_cache"]
