"""The package's shape holds: imports run only down the stack, no import cycle, no module over 400 lines.

Read from the source with ``ast`` (nothing is imported), so a new upward import or a cycle fails here
before it confuses a reader.
"""
import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "lib" / "songspace"
# The stack, bottom first: a module may import from its own layer or any layer below it.
LAYERS = [
    {"songspace.config", "songspace.cache", "songspace.parallel", "songspace.log"},
    {"songspace.features"},
    {"songspace.data"},
    {"songspace.models"},
    {"songspace.training"},
    {"songspace.evaluation"},
    {"songspace.report"},
    {"songspace.cli", "songspace.__main__"},
]
MAX_LINES = 400


def module_name(path: Path) -> str:
    parts = path.relative_to(PKG.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def layer(name: str) -> int:
    for i, prefixes in enumerate(LAYERS):
        if any(name == p or name.startswith(p + ".") for p in prefixes):
            return i
    raise AssertionError(f"{name} belongs to no layer of the stack: add it to LAYERS")


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The songspace modules ``name`` imports (anywhere in the file, lazy imports too)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([node.module] if node.module else []))
            # `from pkg import mod` imports the submodule pkg.mod when there is one
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        out |= {t for t in targets if t.split(".")[0] == "songspace" and t != "songspace"}
    return out


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {n: imports(n, p, set(mods)) - {n} for n, p in mods.items()}


def test_every_module_is_in_a_layer():
    for name in modules():
        if name != "songspace":
            layer(name)


def test_imports_only_run_down_the_stack():
    upward = [f"{a} (layer {layer(a)}) imports {b} (layer {layer(b)})"
              for a, targets in graph().items() if a != "songspace" for b in sorted(targets) if layer(b) > layer(a)]
    assert not upward, "\n".join(upward)


def find_cycle(g: dict[str, set[str]]) -> list[str] | None:
    state, stack = {}, []

    def visit(n):
        state[n] = "open"
        stack.append(n)
        for m in sorted(g.get(n, ())):
            if state.get(m) == "open":
                return stack[stack.index(m):] + [m]
            if m not in state and (c := visit(m)):
                return c
        state[n] = "done"
        stack.pop()
        return None

    for n in sorted(g):
        if n not in state and (c := visit(n)):
            return c
    return None


def test_no_import_cycle():
    cycle = find_cycle(graph())
    assert cycle is None, " -> ".join(cycle)


def test_cycle_and_upward_checks_can_fail():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    assert layer("songspace.report.plots.latent") > layer("songspace.evaluation.cluster") > layer("songspace.cache")
    with pytest.raises(AssertionError, match="no layer"):
        layer("songspace.somewhere")


@pytest.mark.parametrize("name", sorted(modules()))
def test_module_is_short(name):
    n = len(modules()[name].read_text(encoding="utf-8").splitlines())
    assert n <= MAX_LINES, f"{name} has {n} lines (at most {MAX_LINES}): split it by job"


def test_subpackages_document_and_export_their_names():
    import importlib

    for name in [n for n, p in modules().items() if p.name == "__init__.py" and n != "songspace"]:
        pkg = importlib.import_module(name)
        assert pkg.__doc__ and len(pkg.__doc__.split()) > 20, f"{name} has no docstring worth reading"
        for attr in pkg.__all__:
            assert getattr(pkg, attr) is not None, f"{name}.{attr} is exported but does not resolve"
