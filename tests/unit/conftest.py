"""Fixtures for tests that call the supervisor's and plugins' functions in-process."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from supervisor import core_options
from supervisor.hooks import Hooks, create_plugin_manager
from supervisor.options import Settings, build_parser


@pytest.fixture
def hooks() -> Hooks:
    return Hooks(create_plugin_manager(internal=[("core-options", core_options)]))


@pytest.fixture
def parse(hooks: Hooks, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Settings]:
    """Parse and validate flags exactly as the command line does."""
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "6443")

    def parse_flags(*flags: str) -> Settings:
        settings = build_parser("multus-config", hooks.add_options).parse_args(list(flags))
        hooks.validate_settings(settings)
        return settings

    return parse_flags
