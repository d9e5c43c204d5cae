"""The plugin guide documents every hook, and every hook has a test of its own."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from supervisor import hookspecs

ROOT = Path(__file__).parent.parent
HOOKS = sorted(name for name, _ in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("multus_config_"))


def collect_test_names() -> list[str]:
    return [
        node.name
        for path in (ROOT / "tests").rglob("test_*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
    ]


TEST_NAMES = set(collect_test_names())


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_documented(hook):
    guide = (ROOT / "docs" / "plugins.md").read_text()
    assert f"### `{hook}`" in guide


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_has_test(hook):
    assert f"test_hook_{hook.removeprefix('multus_config_')}" in TEST_NAMES


@pytest.mark.parametrize("hook", HOOKS)
def test_hookspec_has_docstring(hook):
    docstring = inspect.getdoc(getattr(hookspecs, hook)) or ""
    assert ":param" in docstring
