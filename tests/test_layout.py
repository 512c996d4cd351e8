"""The package's shape stays as the README's Layout table draws it.

Walks every import statement of ``depthfusion`` and ``ldm3d_core`` with :mod:`ast`, including
the lazy ones inside functions (only ``if TYPE_CHECKING:`` blocks are skipped: they never run):

- no import circle between modules, in either package;
- ``depthfusion``'s stages form the data flow's layers: a stage imports only from stages
  below it (and the shared ground floor), never from one above;
- ``ldm3d_core`` (the model side) never imports ``depthfusion`` or OpenGL;
- no module grows past 800 lines.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("depthfusion", "ldm3d_core")
MAX_LINES = 800

#: depthfusion's floors, bottom to top (DESIGN.md and the README's Layout table). A module
#: may import from its own floor's other modules (the module graph has no circles) and from
#: any floor below.
FLOORS: tuple[tuple[str, ...], ...] = (
    ("__init__", "conventions", "errors", "resources", "atomic", "console"),
    ("rgbd",),
    ("mesh",),
    ("render",),
    ("scene",),
    ("sources",),
    ("outputs",),
    ("pipeline",),
    ("preview", "prompt_following", "serve"),
    ("cli",),
    ("__main__",),
)


def _module_name(path: Path) -> tuple[str, bool]:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    return ".".join(parts[:-1] if is_package else parts), is_package


def _modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            out[_module_name(path)[0]] = path
    return out


def _runtime_nodes(tree: ast.AST):
    """Every node except those under ``if TYPE_CHECKING:``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            stack.extend(node.orelse)
            continue
        yield node
        stack.extend(ast.iter_child_nodes(node))


def _imported(module: str, is_package: bool, tree: ast.AST) -> set[str]:
    """Absolute names of everything ``module`` imports (modules, or module.attribute)."""
    names = set()
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names.add(target)
            names.update(f"{target}.{alias.name}" for alias in node.names)
    return names


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph = {}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        targets = set()
        for name in _imported(module, path.name == "__init__.py", tree):
            while name and name not in modules:  # module.attribute -> module
                name = name.rpartition(".")[0]
            if name and name != module:
                targets.add(name)
        graph[module] = targets
    return graph


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one member (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


GRAPH = _graph()


def _floor(module: str) -> int:
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else "__init__"
    for level, names in enumerate(FLOORS):
        if top in names:
            return level
    raise AssertionError(f"{module}: not on any floor of FLOORS; add its stage there")


def test_the_walker_sees_lazy_imports_and_finds_circles():
    tree = ast.parse("def f():\n    from .b import x\nif TYPE_CHECKING:\n    from .c import y\n")
    assert _imported("pkg.a", False, tree) == {"pkg.b", "pkg.b.x"}
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _circles({"a": {"b"}, "b": set()}) == []
    # the graph really holds the project's lazy imports (cli imports the pipeline in a function)
    assert "depthfusion.pipeline" in GRAPH["depthfusion.cli"]


def test_no_import_circles():
    assert _circles(GRAPH) == []


def test_depthfusion_stages_import_only_downward():
    upward = [
        f"{module} -> {target}"
        for module, targets in GRAPH.items()
        if module.startswith("depthfusion")
        for target in targets
        if target.startswith("depthfusion.") and _floor(target) > _floor(module)
    ]
    assert upward == []


def test_the_stage_packages_exist_in_data_flow_order():
    for stage in ("scene", "sources", "rgbd", "mesh", "render", "outputs", "preview"):
        init = ROOT / "depthfusion" / stage / "__init__.py"
        assert init.is_file() and ast.get_docstring(ast.parse(init.read_text())), stage


def test_ldm3d_core_never_imports_depthfusion_or_opengl():
    offenders = []
    for module, path in _modules().items():
        if not module.startswith("ldm3d_core"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for name in _imported(module, path.name == "__init__.py", tree):
            if name.split(".")[0] in ("depthfusion", "moderngl", "glfw", "OpenGL"):
                offenders.append(f"{module} -> {name}")
    assert offenders == []


@pytest.mark.parametrize("package", PACKAGES)
def test_no_module_over_800_lines(package):
    long = {
        str(path.relative_to(ROOT)): n
        for path in (ROOT / package).rglob("*.py")
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}
