"""The layers of ``advdemo`` (docs/architecture.md): each imports only the layers below it."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "advdemo"

#: Bottom to top. A module may import its own layer and the layers before it.
LAYERS = ("utilities", "core", "store", "experiments", "serving", "page", "cli")
#: Top-level modules every layer may use; they import only one another.
UTILITIES = ("logs", "memo", "environment", "i18n")


def layer_of(module: str) -> str:
    """``advdemo.core.attacks`` -> ``core``; the package itself and ``__main__`` are the top."""
    parts = module.split(".")
    if len(parts) == 1 or parts[1] in ("__main__", "__version__"):
        return "top"
    return "utilities" if parts[1] in UTILITIES else parts[1]


def imports(path: Path) -> set[str]:
    """Every ``advdemo`` module ``path`` imports, at the top or inside a function."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names if a.name.startswith("advdemo")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("advdemo"):
            names |= {f"{node.module}.{a.name}" if node.module == "advdemo" else node.module for a in node.names}
    return names


def modules() -> dict[str, Path]:
    return {".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p
            for p in PACKAGE.rglob("*.py")}


def test_every_module_is_in_a_layer():
    for name in modules():
        assert layer_of(name) in (*LAYERS, "top"), f"{name} is in no layer of tests/test_architecture.py"


def test_imports_point_down_only():
    upward = []
    for name, path in modules().items():
        own = layer_of(name)
        if own == "top":
            continue
        for imported in imports(path):
            other = layer_of(imported)
            if other == "top" and imported != "advdemo.__version__":
                upward.append(f"{name} imports {imported}")
            elif other != "top" and LAYERS.index(other) > LAYERS.index(own):
                upward.append(f"{name} ({own}) imports {imported} ({other})")
    assert not upward, "\n".join(sorted(upward))


def test_the_library_never_imports_streamlit():
    for name, path in modules().items():
        tree = ast.parse(path.read_text())
        found = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        found |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        assert not {m for m in found if m.split(".")[0] == "streamlit"}, f"{name} imports Streamlit"


def test_each_layer_says_what_it_may_import():
    for layer in LAYERS[1:]:
        doc = ast.get_docstring(ast.parse((PACKAGE / layer / "__init__.py").read_text())) or ""
        assert "May import" in doc and "Never" in doc, f"advdemo/{layer}/__init__.py must state its import rule"


def test_classes_stay_small():
    long = []
    for path in [*PACKAGE.rglob("*.py"), *(ROOT / "ui").glob("*.py"), ROOT / "app.py"]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and node.end_lineno - node.lineno + 1 > 150:
                long.append(f"{path.relative_to(ROOT)}: {node.name} has {node.end_lineno - node.lineno + 1} lines")
    assert not long, "\n".join(long)
