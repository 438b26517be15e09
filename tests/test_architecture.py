"""One-way architecture: no import cycles, models know nothing downstream, one registry.

Walks the AST of every module in ``spinefit/``, imports inside functions and
``TYPE_CHECKING`` blocks included: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.fast

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "spinefit"
REGISTRIES = {"spinefit.models", "spinefit.report.registry"}
"""The only modules that may name models in comparisons or lookup tables."""
DOWNSTREAM_OF_MODELS = (
    "spinefit.report",
    "spinefit.compare",
    "spinefit.check",
    "spinefit.summary",
    "spinefit.workflow",
    "spinefit.cli",
    "spinefit.demo",
)


def module_names() -> dict[str, Path]:
    names = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(REPO).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        names[name] = path
    return names


MODULES = module_names()


def resolve(name: str) -> str:
    """Return the longest known module that ``name`` (module or module.attr) lives in."""
    while name not in MODULES:
        name = name.rsplit(".", 1)[0]
    return name


def imports_of(module: str) -> set[str]:
    """Return the spinefit modules ``module`` imports anywhere in its code."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {resolve(a.name) for a in node.names if a.name.startswith("spinefit")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                source = f"{base}.{node.module}" if node.module else base
            else:
                source = node.module or ""
            if not source.startswith("spinefit"):
                continue
            for alias in node.names:
                candidate = f"{source}.{alias.name}"
                found.add(candidate if candidate in MODULES else resolve(source))
    found.discard(module)
    return found


GRAPH = {module: imports_of(module) for module in MODULES}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Return the strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
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


def longest_chain(graph: dict[str, set[str]]) -> list[str]:
    """Return the longest import chain of an acyclic graph."""
    memo: dict[str, list[str]] = {}

    def chain(v: str) -> list[str]:
        if v not in memo:
            memo[v] = [v] + max((chain(w) for w in graph[v]), key=len, default=[])
        return memo[v]

    return max((chain(v) for v in graph), key=len)


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles_in_spinefit():
    assert cycles(GRAPH) == []
    # 14 modules at the time of writing (__main__ → cli → demo → check → models → sampling
    # → errors); a much longer chain means layers are being stacked on each other.
    assert len(longest_chain(GRAPH)) <= 18, longest_chain(GRAPH)


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.startswith("spinefit.models")))
def test_models_import_nothing_downstream(module):
    downstream = {m for m in GRAPH[module] if m.startswith(DOWNSTREAM_OF_MODELS)}
    assert not downstream, f"{module} imports {sorted(downstream)}"


def registered_names() -> set[str]:
    from spinefit.models import REGISTRY

    return set(REGISTRY)


def test_only_the_registries_compare_model_names():
    names = registered_names()
    offenders = []
    for module, path in MODULES.items():
        if module in REGISTRIES:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Compare):
                parts = [node.left, *node.comparators]  # a == "name", a in ("name", ...)
            elif isinstance(node, ast.Dict):
                parts = [key for key in node.keys if key is not None]  # {"name": ...} tables
            else:
                continue
            hits = [
                n.value
                for part in parts
                for n in ast.walk(part)
                if isinstance(n, ast.Constant) and n.value in names
            ]
            if hits:
                offenders.append(f"{module}:{node.lineno} {hits}")
    assert not offenders, offenders


def test_architecture_module_map_names_every_module():
    text = (REPO / "ARCHITECTURE.md").read_text(encoding="utf-8")
    missing = [
        str(path.relative_to(REPO))
        for path in PACKAGE.rglob("*.py")
        if path.name not in ("__init__.py", "__main__.py", "_version.py")
        and str(path.relative_to(REPO)) not in text
        and path.relative_to(PACKAGE).as_posix() not in text
    ]
    assert not missing, f"ARCHITECTURE.md's module map lacks {missing}"


IMPORT_NAMES = {"scikit-image": "skimage", "dask": "distributed"}  # dask[distributed]
USED_THROUGH_ANOTHER_PACKAGE = {
    "arviz-base": "arviz 1.x's data layer, pinned with it",
    "arviz": "the 1.x umbrella, pinned with its parts; spinefit imports arviz-stats itself "
    "(the umbrella also loads arviz-plots and matplotlib.pyplot)",
    "h5py": "the HDF5 layer under h5netcdf",
    "pyarrow": "pandas' Parquet engine",
    "h5netcdf": "named as xarray's netCDF engine",
}


def test_every_declared_dependency_is_used():
    import re
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    source = "\n".join(path.read_text(encoding="utf-8") for path in PACKAGE.rglob("*.py"))
    unused = []
    for requirement in project["dependencies"]:
        name = re.split(r"[\[<>=!~ ]", requirement, maxsplit=1)[0]
        if name in USED_THROUGH_ANOTHER_PACKAGE:
            continue
        module = IMPORT_NAMES.get(name, name.replace("-", "_"))
        if not re.search(rf"^\s*(import|from) {module}\b", source, flags=re.M):
            unused.append(name)
    assert not unused, f"declared but never imported: {unused}"
