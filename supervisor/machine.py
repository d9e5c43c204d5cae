"""The lifecycle state machine: the one place that decides what happens next.

States, in the order a healthy run visits them:

``init``
    started; no render has succeeded yet.
``rendered``
    every renderer returned its desired files, held in memory.
``installed``
    at least one desired file differed from disk and was written.
``steady``
    disk equals the last render; waiting for an input event.
``draining``
    stop requested; nothing more is installed.
``cleaned``
    owned files removed (with cleanup on) or left; the process exits.

``rendered -> installed`` is guarded: it is taken only when some desired file
is missing, differs in content (by the comparator hook) or in mode, or has a
stale sibling. Otherwise the machine goes ``rendered -> steady`` and nothing is
opened for writing. A render that fails leaves the state as it was, so the
files installed last stay on disk.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from transitions import EventData, Machine

from supervisor import install, logs
from supervisor.progress import PROGRESS
from supervisor.throttle import RepairThrottle

if TYPE_CHECKING:
    from supervisor.hooks import Hooks
    from supervisor.options import Settings

log = logging.getLogger(__name__)

STATES = ["init", "rendered", "installed", "steady", "draining", "cleaned"]

#: Every transition of the lifecycle. ``dest: None`` is an internal transition
#: that keeps the state: a failed render.
TRANSITIONS: list[dict[str, Any]] = [
    {
        "trigger": "render",
        "source": ["init", "steady"],
        "dest": "rendered",
        "prepare": "run_renderers",
        "conditions": "render_succeeded",
        "after": "install",
    },
    {
        "trigger": "render",
        "source": ["init", "steady"],
        "dest": None,
        "after": "report_render_failure",
    },
    {
        "trigger": "install",
        "source": "rendered",
        "dest": "installed",
        "prepare": "compare_with_disk",
        "conditions": "disk_differs",
        "before": "write_files",
        "after": "settle",
    },
    {"trigger": "install", "source": "rendered", "dest": "steady"},
    {"trigger": "settle", "source": "installed", "dest": "steady"},
    {
        "trigger": "drain",
        "source": ["init", "rendered", "installed", "steady"],
        "dest": "draining",
    },
    {
        "trigger": "cleanup",
        "source": "draining",
        "dest": "cleaned",
        "before": "remove_owned_files",
    },
]


@dataclass(frozen=True)
class TransitionInfo:
    """One step of the lifecycle, as passed to observers."""

    #: Name of the event: render, install, settle, drain or cleanup.
    trigger: str
    #: State before the step.
    source: str
    #: State after the step; equal to ``source`` for a failed render.
    dest: str
    #: One line for logs and the systemd status.
    message: str
    #: Category of the error for a failed render or install, else ``None``.
    error_kind: str | None = None
    #: Files written by this step (an install).
    written: int = 0
    #: Files found already current by this step (an install), so not written.
    current: int = 0


def build_machine(model: object, **extra: Any) -> Machine:
    """Attach the lifecycle states and transitions to *model*."""
    return Machine(
        model=model,
        states=STATES,
        transitions=TRANSITIONS,
        initial="init",
        auto_transitions=False,
        send_event=True,
        queued=True,
        after_state_change="observe",
        **extra,
    )


class Lifecycle:
    """The model driven by the state machine: renders, installs and cleans up."""

    state: str

    def __init__(self, hooks: Hooks, settings: Settings) -> None:
        self.hooks = hooks
        self.settings = settings
        self.desired: list[install.DesiredFile] = []
        self.comparer = install.DiskComparer(
            lambda desired, current: hooks.compare(settings, desired, current)
        )
        #: Whether the last install could not write every file.
        self.install_failed = False
        #: Whether the last render raised an error in some renderer.
        self.last_render_failed = False
        #: Reason of the last failed render, for the terminal's waiting line.
        self.waiting_for = ""
        #: Delays repairs of files another writer keeps changing.
        self.throttle = RepairThrottle()
        #: SHA-256 of the content last installed, per path.
        self._installed: dict[install.Path, str] = {}
        self._pending: list[install.DesiredFile] = []
        self._render_errors: list[Any] = []
        self._plan: list[install.DiskState] = []
        self._last_error = ""
        self._last_install_error = ""
        self._failed_path: install.Path | None = None
        self._written_count = 0
        self._message = ""
        self._error_kind: str | None = None
        self.machine = build_machine(self)

    # -- render -----------------------------------------------------------------

    def run_renderers(self, event: EventData) -> None:
        from supervisor.hooks import RenderFailed

        try:
            self._pending = self.hooks.render(self.settings)
            self._render_errors = []
        except RenderFailed as failure:
            self._pending = []
            self._render_errors = failure.errors
        self.last_render_failed = bool(self._render_errors)

    def render_succeeded(self, event: EventData) -> bool:
        return not self._render_errors

    def report_render_failure(self, event: EventData) -> None:
        message = "; ".join(str(error) for error in self._render_errors)
        kind = self._render_errors[0].kind if self._render_errors else "input"
        if message != self._last_error:
            keeping = "keeping the installed files" if self.desired else "nothing installed yet"
            first = self._render_errors[0] if self._render_errors else None
            extra = logs.fields(path=getattr(first, "path", None), error_kind=kind)
            log.warning("Cannot render: %s (%s; waiting for the input to change)", message, keeping, extra=extra)
        else:
            log.debug("Render still failing: %s", message)
        self._last_error = message
        self.waiting_for = message
        # The machine's after_state_change callback then reports this step,
        # as it does for every transition, internal ones included.
        self._message = f"waiting: {message}"
        self._error_kind = kind

    # -- install ------------------------------------------------------------------

    def compare_with_disk(self, event: EventData) -> None:
        self._written_count = 0
        if self._last_error:
            log.info("Inputs are usable again; rendered %d files", len(self._pending))
            self._last_error = ""
        self.desired = self._pending
        self._plan = [self.comparer.state(desired) for desired in self.desired]
        for state in self._plan:
            if state.reason is None:
                self.throttle.record_current(state.desired.path)
                log.debug("%s is current (sha256 %s); not writing", state.desired.path, state.current_hash)

    def disk_differs(self, event: EventData) -> bool:
        return any(state.needs_action for state in self._plan)

    def write_files(self, event: EventData) -> None:
        self._failed_path: install.Path | None = None
        written: list[install.DesiredFile] = []
        held: list[install.DesiredFile] = []
        failures: list[str] = []
        for state in self._plan:
            desired = state.desired
            # A repair restores content this process installed before, so
            # another writer changed the file; new content is never held back.
            repair = self._installed.get(desired.path) == desired.sha256
            if state.reason is not None and repair and not self.throttle.allow(desired.path):
                log.debug("Holding back the repair of %s (%s)", desired.path, state.reason)
                held.append(desired)
                # The stale siblings stay until this file is back in place, so
                # the node is never left with neither.
                continue
            if state.reason is not None:
                if repair:
                    self.throttle.record_repair(desired.path)
                try:
                    install.write_atomic(
                        desired.path,
                        desired.encoded(),
                        desired.mode,
                        desired.root,
                        lambda done, total, label=desired.label: PROGRESS.bytes_written(label, done, total),
                    )
                    PROGRESS.clear()
                except OSError as error:
                    PROGRESS.clear()
                    failures.append(f"cannot write {desired.path}: {error.strerror or error}")
                    self._failed_path = desired.path
                    continue
                self.comparer.remember(desired)
                self._installed[desired.path] = desired.sha256
                log.info(
                    "Installed %s %s (%s; sha256 %s -> %s)",
                    desired.label,
                    desired.path,
                    state.reason,
                    state.current_hash or "none",
                    desired.short_hash,
                    extra=logs.fields(path=desired.path, sha256=desired.sha256),
                )
                written.append(desired)
            for stale in state.stale:
                # A file removed here is not another writer's doing, so putting
                # it back later is not a repair.
                self._installed.pop(stale, None)
                try:
                    if install.remove_file(stale):
                        log.info("Removed stale %s", stale)
                except OSError as error:
                    failures.append(f"cannot remove {stale}: {error.strerror or error}")
        self._written_count = len(written)
        self._report_install(written, held, failures)
        if written:
            self.hooks.after_install(self.settings, written)

    def _report_install(
        self, written: list[install.DesiredFile], held: list[install.DesiredFile], failures: list[str]
    ) -> None:
        self.install_failed = bool(failures)
        if failures:
            message = "; ".join(failures)
            if message != self._last_install_error:
                extra = logs.fields(path=self._failed_path, error_kind="install")
                log.error("Install failed: %s (the previous files stay in place; will retry)", message, extra=extra)
            self._last_install_error = message
            self._message = f"install failed: {message}"
            self._error_kind = "install"
            return
        if self._last_install_error:
            log.info("Install succeeded again after earlier failures")
        self._last_install_error = ""
        parts = []
        if written:
            parts.append("installed " + ", ".join(str(desired.path) for desired in written))
        if held:
            parts.append("repair held back for " + ", ".join(str(desired.path) for desired in held) + " (another writer keeps changing it)")
        self._message = "; ".join(parts) or "removed stale files"
        self._error_kind = None

    # -- shutdown -------------------------------------------------------------------

    def remove_owned_files(self, event: EventData) -> None:
        cleanup = bool(self.settings.cleanup_config_on_exit)
        if cleanup:
            for path in self.hooks.owned_paths(self.settings):
                try:
                    if install.remove_file(path):
                        log.info("Removed %s", path)
                except OSError as error:
                    log.error("Cannot remove %s: %s", path, error.strerror or error)
        self.hooks.teardown(self.settings, cleanup)
        self._message = "owned files removed" if cleanup else "files left in place"

    # -- observation ----------------------------------------------------------------

    def observe(self, event: EventData) -> None:
        """Pass the step to the observer hook with a status line."""
        source = event.transition.source
        dest = event.transition.dest or source
        message = self._message_for(event.event.name, dest)
        if dest == "steady" and self.install_failed and self._error_kind is None:
            # Disk does not hold the render yet: not ready, and an error to report.
            self._error_kind = "install"
        written = current = 0
        if event.event.name == "install":
            current = sum(1 for state in self._plan if not state.needs_action)
            written = self._written_count
        info = TransitionInfo(event.event.name, source, dest, message, self._error_kind, written, current)
        self.hooks.observe_transition(info)
        self._message = ""
        self._error_kind = None

    def _message_for(self, trigger: str, dest: str) -> str:
        if self._message:
            return self._message
        if dest == "rendered":
            return f"rendered {len(self._pending)} files"
        if dest == "steady" and self.install_failed:
            return f"retrying: {self._last_install_error}"
        if dest == "steady" and trigger == "install":
            return f"all {len(self.desired)} files current"
        if dest == "steady":
            return "files installed; watching for changes"
        if dest == "draining":
            return "stopping"
        return dest
