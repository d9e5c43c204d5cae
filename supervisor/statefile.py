"""The state file: what ``multus-config status`` reads while the supervisor runs.

The running supervisor rewrites it (atomically, mode 0644, no secrets) when
its state or last error changes. A render that finds every file current does
not count as a change, so an idle node gets no writes.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from supervisor import install
from supervisor.machine import TransitionInfo
from supervisor.markers import hookimpl

if TYPE_CHECKING:
    from supervisor.hooks import Hooks
    from supervisor.machine import Lifecycle
    from supervisor.options import Settings

log = logging.getLogger(__name__)

#: Default path, under the runtime directory systemd and containers provide.
DEFAULT_PATH = "/run/multus-config/status.json"
_ROUTINE = {("steady", "rendered"), ("rendered", "steady")}


class StateFile:
    """Observer plugin that records the supervisor's state for ``status``."""

    def __init__(self, path: Path, hooks: Hooks, settings: Settings) -> None:
        self.path = path
        self.hooks = hooks
        self.settings = settings
        self.lifecycle: Lifecycle | None = None
        self._state = "init"
        self._since = time.time()
        self._error: str | None = None
        self._error_kind: str | None = None
        self._failed = False

    @hookimpl
    def multus_config_observe_transition(self, transition: TransitionInfo) -> None:
        if transition.error_kind is not None:
            error = transition.message
            if (error, transition.error_kind) == (self._error, self._error_kind):
                return
            self._error, self._error_kind = error, transition.error_kind
        elif (transition.source, transition.dest) in _ROUTINE and not self._error:
            return
        elif transition.dest == "steady":
            self._error, self._error_kind = None, None
        if transition.dest != self._state:
            self._state = transition.dest
            self._since = time.time()
        self.write()

    def snapshot(self) -> dict[str, Any]:
        """Return the report written to the state file."""
        files = []
        if self.lifecycle is not None:
            for desired in self.lifecycle.desired:
                files.append({"path": str(desired.path), "label": desired.label, "sha256": desired.sha256})
        return {
            "pid": os.getpid(),
            "state": self._state,
            "state_since": self._since,
            "last_error": self._error,
            "last_error_kind": self._error_kind,
            "files": files,
            **self.hooks.describe(self.settings),
        }

    def write(self) -> None:
        """Write the report; a failure is logged and does not stop the supervisor."""
        content = json.dumps(self.snapshot(), indent=2, sort_keys=True).encode() + b"\n"
        try:
            install.write_atomic(self.path, content, 0o644)
        except OSError as error:
            log.warning("Cannot write state file %s: %s", self.path, error.strerror or error)

    def remove(self) -> None:
        """Remove the state file at exit, so no stale report outlives the process."""
        try:
            install.remove_file(self.path)
        except OSError as error:
            log.warning("Cannot remove state file %s: %s", self.path, error.strerror or error)


def read_state(path: Path, running: bool) -> dict[str, Any] | None:
    """Return the report of a running supervisor, or ``None`` when none runs.

    :param running: whether the supervisor's instance lock is held. A state
        file without a lock holder was left by a killed process.
    """
    if not running:
        return None
    try:
        report = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return report if isinstance(report, dict) else None
