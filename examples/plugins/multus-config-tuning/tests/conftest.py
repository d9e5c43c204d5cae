"""Stop the run with a usage error unless this plugin is installed, because every test loads it."""

from __future__ import annotations

from importlib.metadata import entry_points

import pytest

ENTRY_POINT = "tuning"


def pytest_configure(config: pytest.Config) -> None:
    names = {entry.name for entry in entry_points(group="multus_config")}
    if ENTRY_POINT not in names:
        msg = (
            f"the multus_config entry point {ENTRY_POINT!r} is not installed in this "
            "environment; run 'pip install ./examples/plugins/multus-config-tuning' "
            "into the environment of multus-config first"
        )
        raise pytest.UsageError(msg)
