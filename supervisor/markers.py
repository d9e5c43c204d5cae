"""The hook implementation marker; plugins import it as ``supervisor.hookimpl``."""

from __future__ import annotations

import pluggy

#: Project name shared by the hook specifications and implementations.
PROJECT = "multus_config"

#: Decorator for hook implementations in plugins.
hookimpl = pluggy.HookimplMarker(PROJECT)
