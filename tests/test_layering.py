"""The package's import structure: no import cycles, no import from a lower layer into a higher
one, and no torch on the deployable path. Read from the source with ``ast``; nothing is imported.

Every import counts, also those inside functions (lazy imports keep start-up cheap but are
dependencies all the same); a parent package that Python initialises on the way to a module
does not.
"""
from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "lgmpose"

# Bottom to top. A module belongs to the layer of its longest listed prefix and may import only
# from its own layer and those below.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("base", ("lgmpose.errors", "lgmpose.utils", "lgmpose.defaults", "lgmpose.scoring")),
    ("codecs", ("lgmpose.codecs",)),
    ("data", ("lgmpose.data",)),
    ("backends", ("lgmpose.inference.onnx_runtime", "lgmpose.inference.torch_backend",
                  "lgmpose.inference.model_info")),
    ("detectors", ("lgmpose.detectors",)),
    ("inference", ("lgmpose.inference",)),
    ("video", ("lgmpose.video",)),
    ("facade", ("lgmpose",)),
    ("evaluation", ("lgmpose.evaluation",)),
    ("models", ("lgmpose.models",)),
    ("engine", ("lgmpose.engine",)),
    ("export", ("lgmpose.export",)),
    ("tools", ("lgmpose.tools", "lgmpose.labels")),
    ("distributed", ("lgmpose.distributed_inference",)),
    ("apps", ("lgmpose.commands", "lgmpose.serve", "lgmpose.cli", "lgmpose.__main__")),
]

# What `pip install lgmpose` runs: none of it may import torch when it is imported.
DEPLOYABLE = ("base", "codecs", "data", "backends", "detectors", "inference", "video", "facade")

# Upward imports that are the point of the importing module, each inside a function.
ALLOWED_UPWARD = {
    # backend="torch" runs a training checkpoint; only that backend needs torch
    ("lgmpose.inference.torch_backend", "lgmpose.engine.checkpoint"),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _resolve(node: ast.ImportFrom, importer: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = importer.split(".") if is_package else importer.split(".")[:-1]
    base = base[:len(base) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def _known(name: str) -> str | None:
    """The lgmpose module ``name`` refers to (a module, or the package defining the name)."""
    while name:
        if name in modules():
            return name
        name = name.rpartition(".")[0]
    return None


@cache
def imports(module: str) -> tuple[tuple[str, bool], ...]:
    """``(imported lgmpose module or third-party top-level name, at module level?)`` pairs."""
    path = modules()[module]
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = top and not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                   ast.Lambda))
            if isinstance(child, ast.Import):
                names = [alias.name for alias in child.names]
            elif isinstance(child, ast.ImportFrom):
                base = _resolve(child, module, path.name == "__init__.py")
                names = [f"{base}.{alias.name}" for alias in child.names]
            else:
                visit(child, inner)
                continue
            for name in names:
                if name.split(".")[0] == "lgmpose":
                    target = _known(name)
                    if target is not None and target != module:
                        found.append((target, top))
                else:
                    found.append((name.split(".")[0], top))

    visit(ast.parse(path.read_text(), str(path)), True)
    return tuple(found)


def layer_of(module: str) -> int:
    best, index = -1, None
    for i, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, index = len(prefix), i
    assert index is not None, f"{module}: in no layer; add it to LAYERS"
    return index


def lgmpose_edges(top_only: bool = False) -> dict[str, set[str]]:
    return {m: {t for t, top in imports(m) if t in modules() and (top or not top_only)}
            for m in modules()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}   # 1: on the current path, 2: done
    stack: list[str] = []

    def dfs(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := dfs(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := dfs(node)):
            return cycle
    return None


def test_every_module_has_a_layer():
    for module in modules():
        layer_of(module)


def test_no_import_cycles():
    cycle = find_cycle(lgmpose_edges())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_no_upward_imports():
    names = [name for name, _ in LAYERS]
    upward = sorted(
        f"{m} ({names[layer_of(m)]}) imports {t} ({names[layer_of(t)]})"
        for m, targets in lgmpose_edges().items() for t in targets
        if layer_of(t) > layer_of(m) and (m, t) not in ALLOWED_UPWARD)
    assert not upward, "\n".join(upward)


def test_allowed_upward_imports_are_lazy():
    for module, target in ALLOWED_UPWARD:
        assert (target, False) in imports(module) and (target, True) not in imports(module), \
            f"{module} must import {target} inside the function that needs it"


def test_deployable_path_and_cli_import_no_torch_at_import_time():
    """The deployable layers never need torch to load; the command modules load at every
    `lgmpose` start-up, so each imports what it needs inside ``run``."""
    starts = [m for m in modules() if LAYERS[layer_of(m)][0] in DEPLOYABLE
              or m.startswith(("lgmpose.commands", "lgmpose.cli"))]
    graph = lgmpose_edges(top_only=True)
    offenders = []
    for start in starts:
        seen, todo = {start}, [start]
        while todo:
            module = todo.pop()
            if any(name in ("torch", "torchvision") for name, top in imports(module) if top):
                offenders.append(f"{start} (through {module})" if module != start else start)
                break
            for nxt in graph[module] - seen:
                seen.add(nxt)
                todo.append(nxt)
    assert not offenders, "import torch at import time: " + ", ".join(sorted(offenders))


# The checks themselves must be able to fail.
def test_the_cycle_finder_finds_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_the_import_reader_sees_lazy_and_relative_imports(tmp_path, monkeypatch):
    package = tmp_path / "lgmpose"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "errors.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "a.py").write_text(
        "import torch\nfrom . import b\n\ndef f():\n    from lgmpose.errors import X\n")
    (package / "sub" / "b.py").write_text("")
    monkeypatch.setitem(globals(), "PACKAGE", package)
    modules.cache_clear()
    imports.cache_clear()
    try:
        assert set(imports("lgmpose.sub.a")) == {("torch", True), ("lgmpose.sub.b", True),
                                                  ("lgmpose.errors", False)}
        assert layer_of("lgmpose.errors") < layer_of("lgmpose.sub.a")
    finally:
        modules.cache_clear()
        imports.cache_clear()
