"""The package's import graph: no circles, and every layer imports only downward.

Read from the source (every ``import``, at module level or inside a function: a lazy import that
closes a circle is still a circle), so it needs no imports and costs nothing.
"""

from __future__ import annotations

import ast
from pathlib import Path

import srapp

PACKAGE = Path(srapp.__file__).resolve().parent

# Lower layers first; a module may import its own layer's folder and anything below.
LAYERS = (
    ("errors", "pixels", "locations", "data", "write_rule", "_atomic", "_compat"),
    ("attention",),
    ("archs",),
    ("checkpoints",),
    ("io",),  # image files: the engine reads them, so io sits below it and imports nothing of it
    ("engine", "metrics"),
    ("degradations",),
    ("batch",),
    ("training",),
    ("cli", "web"),
)
LAYER_OF = {part: level for level, parts in enumerate(LAYERS) for part in parts}


def _modules() -> dict[str, tuple[Path, bool]]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = ["srapp", *path.relative_to(PACKAGE).with_suffix("").parts]
        is_package = parts[-1] == "__init__"
        found[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return found


MODULES = _modules()


def _owner(name: str) -> str | None:
    """The srapp module that ``name`` (a module or a name inside one) lives in."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str) -> set[str]:
    path, is_package = MODULES[module]
    package = module if is_package else module.rpartition(".")[0]
    targets = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names if alias.name.split(".")[0] == "srapp")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            if source.split(".")[0] != "srapp":
                continue
            for alias in node.names:
                name = f"{source}.{alias.name}"
                targets.add(name if name in MODULES else source)
    owners = {_owner(target) for target in targets} - {None, module}
    return owners


GRAPH = {module: _imports(module) for module in MODULES}


def _layer(module: str) -> int:
    parts = module.split(".")
    # ``srapp`` itself is the public facade over every layer.
    return LAYER_OF[parts[1]] if len(parts) > 1 else len(LAYERS)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_every_folder_of_the_package_has_a_layer():
    assert {module.split(".")[1] for module in MODULES if "." in module} <= set(LAYER_OF)


def test_no_import_circles():
    assert _cycles(GRAPH) == []


def test_layers_import_only_downward():
    upward = [
        f"{module} -> {target}"
        for module, targets in GRAPH.items()
        for target in targets
        if _layer(target) > _layer(module)
        or (_layer(target) == _layer(module) and target.split(".")[1] != module.split(".")[1]
            and _layer(module) > 0)
    ]
    assert upward == []


def test_the_walker_sees_circles_and_relative_imports():
    # The checks above are only as good as the graph: a made-up circle is found, and a relative
    # import inside a subpackage resolves to its sibling.
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert "srapp.engine.tiling" in GRAPH["srapp.engine.upscale"]
