"""ml_core is a library with no web in it: it never imports the app or a web framework."""

import ast
from pathlib import Path

import pytest

ML_CORE = Path(__file__).resolve().parents[2] / "ml_core"
FORBIDDEN = ("app", "fastapi", "starlette", "uvicorn", "jinja2", "pydantic_settings")
# Jinja2 renders Python there (the exported scripts' templates), not web pages.
ALLOWED = {"codegen.py": {"jinja2"}}


@pytest.mark.parametrize("path", sorted(ML_CORE.glob("*.py")), ids=lambda p: p.name)
def test_ml_core_module_imports_no_web_code(path):
    tree = ast.parse(path.read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported.add(node.module.split(".")[0])
    bad = imported & set(FORBIDDEN) - ALLOWED.get(path.name, set())
    assert not bad, f"{path.name} imports {bad}"
