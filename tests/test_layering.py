"""The package's import structure: every top-level package is one layer, no import from a lower
layer into a higher one, no import cycle between modules nor between packages, and no torch on the
deployable path. Read from the source with ``ast``; nothing is imported.

Every import counts, also those inside functions (lazy imports keep start-up cheap but are
dependencies all the same); a parent package that Python initialises on the way to a module
does not. docs/layers.md describes the layers; its picture is drawn from ``LAYERS``.
"""
from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "lgmpose"

# Bottom to top: (layer, its top-level packages and modules, what it is). A module may import only
# from its own layer and those below; ``lgmpose`` itself is the facade (``lgmpose/__init__.py``).
LAYERS: list[tuple[str, tuple[str, ...], str]] = [
    ("base", ("lgmpose.errors", "lgmpose.utils", "lgmpose.defaults", "lgmpose.scoring"),
     "errors, atomic files, shared thresholds and argument types, the instance score"),
    ("codecs", ("lgmpose.codecs",), "heatmap encode/decode"),
    ("data", ("lgmpose.data",), "keypoint sets, crops and transforms, datasets, which way a "
                                "person faces"),
    ("models", ("lgmpose.models",), "networks and the checkpoint files that rebuild them"),
    ("runtimes", ("lgmpose.runtimes",), "running a network file: ONNX Runtime, torch on use, "
                                        "the model description"),
    ("detectors", ("lgmpose.detectors",), "person detectors and box helpers"),
    ("inference", ("lgmpose.inference",), "PoseEstimator, its image and video inputs, drawing, "
                                          "MoveNet"),
    ("video", ("lgmpose.video",), "VideoPipeline: tracking, smoothing, the predict loop"),
    ("facade", ("lgmpose",), "lgmpose.PoseEstimator, lgmpose.VideoPipeline"),
    ("evaluation", ("lgmpose.evaluation",), "COCO AP, PCKh, model comparison, detector AP"),
    ("engine", ("lgmpose.engine",), "training and validation runs, configs"),
    ("export", ("lgmpose.export",), "ONNX export, int8"),
    ("tools", ("lgmpose.benchmarks", "lgmpose.convert", "lgmpose.labels", "lgmpose.pictures",
               "lgmpose.plots"),
     "benchmarks, TF.js conversion, pseudo-labels, training pictures, plots"),
    ("distributed", ("lgmpose.distributed_inference",), "predict and pseudo-label on Ray"),
    ("apps", ("lgmpose.commands", "lgmpose.serve", "lgmpose.cli", "lgmpose.__main__"),
     "the lgmpose command line and the HTTP service"),
]

# What `pip install lgmpose` runs: none of it may import torch when it is imported.
DEPLOYABLE = ("base", "codecs", "data", "runtimes", "detectors", "inference", "video", "facade")


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


def package_of(module: str) -> str:
    """The top-level package (or module) of ``lgmpose`` that ``module`` is part of."""
    return ".".join(module.split(".")[:2])


def layer_of(module: str) -> int:
    for i, (_, packages, _) in enumerate(LAYERS):
        if package_of(module) in packages:
            return i
    raise AssertionError(f"{module}: in no layer; add {package_of(module)} to LAYERS")


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


def package_edges() -> dict[str, dict[str, list[str]]]:
    """``{package: {imported package: ["module -> module", ...]}}`` between top-level packages."""
    graph: dict[str, dict[str, list[str]]] = {package_of(m): {} for m in modules()}
    for module, targets in lgmpose_edges().items():
        for target in targets:
            if package_of(target) != package_of(module):
                graph[package_of(module)].setdefault(package_of(target), []).append(
                    f"{module} -> {target}")
    return graph


def test_no_import_cycles_between_packages():
    """Modules without a cycle can still tie their packages in a knot (a imports b.x, b.y
    imports a): then neither package can be understood, moved or tested without the other."""
    graph = package_edges()
    cycle = find_cycle({package: set(targets) for package, targets in graph.items()})
    assert cycle is None, "import cycle between packages: " + " -> ".join(cycle) + "".join(
        f"\n  {a} -> {b}: {', '.join(sorted(graph[a][b])[:3])}" for a, b in zip(cycle, cycle[1:]))


def test_every_package_is_one_layer():
    """The folders are the layers: a layer is whole packages, never part of one."""
    for _, packages, _ in LAYERS:
        for package in packages:
            assert package.count(".") <= 1, f"{package}: name top-level packages only in LAYERS"
    listed = [package for _, packages, _ in LAYERS for package in packages]
    assert len(listed) == len(set(listed)), "a package is listed in two layers"


def test_no_upward_imports():
    names = [name for name, _, _ in LAYERS]
    upward = sorted(
        f"{m} ({names[layer_of(m)]}) imports {t} ({names[layer_of(t)]})"
        for m, targets in lgmpose_edges().items() for t in targets
        if layer_of(t) > layer_of(m))
    assert not upward, "\n".join(upward)


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
@pytest.fixture
def fake_package(tmp_path, monkeypatch):
    """Make the checks read a package written from ``{relative path: source}`` instead."""
    def write(files: dict[str, str]) -> None:
        for name, source in {"__init__.py": "", **files}.items():
            path = tmp_path / "lgmpose" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(source)
        modules.cache_clear()
        imports.cache_clear()

    monkeypatch.setitem(globals(), "PACKAGE", tmp_path / "lgmpose")
    yield write
    modules.cache_clear()
    imports.cache_clear()


def test_the_package_graph_sees_cycles_that_modules_do_not_make(fake_package):
    fake_package({"a/__init__.py": "", "a/x.py": "from lgmpose.b import y\n", "a/w.py": "",
                  "b/__init__.py": "", "b/y.py": "",
                  "b/z.py": "def f():\n    from lgmpose.a import w\n"})
    assert find_cycle(lgmpose_edges()) is None
    graph = package_edges()
    assert find_cycle({p: set(t) for p, t in graph.items()}) == [
        "lgmpose.a", "lgmpose.b", "lgmpose.a"]
    assert graph["lgmpose.b"]["lgmpose.a"] == ["lgmpose.b.z -> lgmpose.a.w"]


def test_the_cycle_finder_finds_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_the_import_reader_sees_lazy_and_relative_imports(fake_package):
    fake_package({"errors.py": "", "video/__init__.py": "", "video/b.py": "",
                  "video/a.py": "import torch\nfrom . import b\n\ndef f():\n"
                                "    from lgmpose.errors import X\n"})
    assert set(imports("lgmpose.video.a")) == {("torch", True), ("lgmpose.video.b", True),
                                                ("lgmpose.errors", False)}
    assert layer_of("lgmpose.errors") < layer_of("lgmpose.video.a")


def test_a_package_missing_from_the_layers_is_an_error():
    with pytest.raises(AssertionError, match="add lgmpose.newthing to LAYERS"):
        layer_of("lgmpose.newthing.module")
