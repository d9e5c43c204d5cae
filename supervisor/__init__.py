"""multus-config supervisor: the engine that renders, installs and watches.

This package contains no Multus-specific code. Renderers, comparators and options
come from plugins found through the ``multus_config`` entry-point group.
"""

from __future__ import annotations

from supervisor.errors import UsageError, WaitForInput
from supervisor.files import DesiredFile
from supervisor.markers import hookimpl
from supervisor.options import OptionRegistry, Settings

__all__ = [
    "DesiredFile",
    "OptionRegistry",
    "Settings",
    "UsageError",
    "WaitForInput",
    "hookimpl",
]
