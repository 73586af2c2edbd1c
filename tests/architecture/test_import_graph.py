"""The det_model import graph is a DAG (module-level and function-level imports alike) and never reaches kfp.

Every det_model module is parsed with `ast`; each import of a det_model module becomes an edge, including
imports inside functions, so a lazy import cannot hide a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "det_model"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_names(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    """Absolute names of everything imported anywhere in the tree (relative imports resolved)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")[: len(module.split(".")) - node.level + (1 if is_package else 0)]
                base = ".".join(anchor + ([base] if base else []))
            names.update(f"{base}.{alias.name}" for alias in node.names)
            names.add(base)
    return names


def resolve(names: set[str], modules: set[str]) -> set[str]:
    """`from pkg import sub` reaches the module pkg.sub, `from pkg import name` reaches pkg's __init__."""
    found = {n for n in names if n in modules}
    packages = {n.rsplit(".", 1)[0] for n in names if "." in n and n not in modules}
    submodule_only = {n.rsplit(".", 1)[0] for n in found if n.rsplit(".", 1)[0] in names} - packages
    return found - submodule_only


def parent_packages(targets: set[str], importer: str, modules: set[str]) -> set[str]:
    """Importing pkg.sub runs pkg/__init__.py first, unless the importer already lives inside pkg."""
    out = set()
    for target in targets:
        parts = target.split(".")
        for i in range(1, len(parts)):
            parent = ".".join(parts[:i])
            if parent in modules and not importer.startswith(parent + "."):
                out.add(parent)
    return out


def import_graph(package: str = PACKAGE) -> dict[str, set[str]]:
    """module -> det_model modules it imports (a `from pkg import name` counts for pkg and pkg.name)."""
    files = {module_name(p): p for p in sorted((ROOT / package).rglob("*.py"))}
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        names = imported_names(tree, module, path.name == "__init__.py")
        targets = resolve(names, set(files))
        graph[module] = (targets | parent_packages(targets, module, set(files))) - {module}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a list of modules (first == last), or None; iterative three-colour DFS."""
    state: dict[str, int] = {}
    for start in sorted(graph):
        if state.get(start):
            continue
        stack, path = [(start, iter(sorted(graph[start])))], [start]
        state[start] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                stack.pop()
                path.pop()
            elif state.get(child) == 1:
                return path[path.index(child):] + [child]
            elif not state.get(child):
                state[child] = 1
                stack.append((child, iter(sorted(graph[child]))))
                path.append(child)
    return None


# Each row: a tiny graph and whether the checker must find a cycle in it.
CASES = [
    ({"a": {"b"}, "b": set()}, False),  # a chain
    ({"a": {"b"}, "b": {"a"}}, True),  # two modules import each other
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, True),  # a longer ring
    ({"a": {"b", "c"}, "b": {"c"}, "c": set()}, False),  # a diamond is not a cycle
]


@pytest.mark.parametrize("graph,has_cycle", CASES)
def test_find_cycle_table(graph, has_cycle):
    assert (find_cycle(graph) is not None) == has_cycle


def test_function_level_imports_count(tmp_path):
    tree = ast.parse("def f():\n    from det_model.x import y\n")
    names = imported_names(tree, "det_model.z", False)
    assert resolve(names, {"det_model.x", "det_model.x.y"}) == {"det_model.x.y"}  # y is a module
    assert resolve(names, {"det_model.x"}) == {"det_model.x"}  # y is a name defined in x


def test_parent_package_init_counts():
    # det_model.a.b imported from det_model.c runs det_model/a/__init__.py too; from inside det_model.a it does not
    modules = {"det_model", "det_model.a", "det_model.a.b", "det_model.c"}
    assert parent_packages({"det_model.a.b"}, "det_model.c", modules) == {"det_model.a"}
    assert parent_packages({"det_model.a.b"}, "det_model.a.x", modules) == set()


def test_det_model_import_graph_is_a_dag():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_det_model_never_imports_kfp():
    offenders = []
    for path in sorted((ROOT / PACKAGE).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = imported_names(tree, module_name(path), path.name == "__init__.py")
        if any(n == "kfp" or n.startswith("kfp.") for n in names):
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
