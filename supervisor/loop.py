"""The main loop: waits for inotify events, signals and timers, and drives the lifecycle.

The loop is single-threaded. Signal handlers only record the signal and wake
the loop through ``signal.set_wakeup_fd``. Python runs handlers between
bytecodes of the main thread and these raise nothing, so an install that is
running when a signal arrives finishes before the loop acts on the signal.
"""

from __future__ import annotations

import logging
import os
import selectors
import signal
import socket
import time
from pathlib import Path

from supervisor import install
from supervisor.hooks import Hooks
from supervisor.machine import Lifecycle
from supervisor.notify import SystemdNotifier
from supervisor.options import Settings
from supervisor.progress import PROGRESS
from supervisor.watch import DirectoryWatcher

log = logging.getLogger(__name__)

#: Latest a burst of events is rendered after its first event. At 0.125 s a
#: writer that never pauses causes at most 8 renders a second, plus one after
#: it stops.
MAX_DEBOUNCE_DELAY = 0.125
#: Retry delays after a failed install, and after a failed render when not watching.
RETRY_FIRST, RETRY_MAX = 1.0, 60.0
#: While no render has succeeded, systemd's start timeout is extended by this much ...
EXTEND_TIMEOUT = 30.0
#: ... this often.
EXTEND_EVERY = 10.0
#: Maximum single wait of the main loop, far below epoll's limit of about 24.8 days.
MAX_WAIT = 3600.0
#: Seconds between updates of the waiting line on a terminal.
PROGRESS_EVERY = 1.0

_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
#: Signals that arrived before the main loop started.
EARLY_SIGNALS: list[int] = []


def catch_signals_early() -> None:
    """Record SIGTERM, SIGINT and SIGHUP from the first moment, so a stop
    signal during start-up still ends in a clean exit."""
    for signum in (*_STOP_SIGNALS, signal.SIGHUP):
        signal.signal(signum, lambda received, frame: EARLY_SIGNALS.append(received))


class Timer:
    """A deadline on the monotonic clock, or none."""

    def __init__(self) -> None:
        self.due: float | None = None

    def start(self, delay: float) -> None:
        self.due = time.monotonic() + delay

    def start_if_idle(self, delay: float) -> None:
        if self.due is None:
            self.start(delay)

    def stop(self) -> None:
        self.due = None

    def expired(self, now: float) -> bool:
        return self.due is not None and now >= self.due


class Supervisor:
    """Runs the lifecycle until a stop signal, then drains and cleans up."""

    def __init__(self, hooks: Hooks, settings: Settings, notifier: SystemdNotifier) -> None:
        self.hooks = hooks
        self.settings = settings
        self.notifier = notifier
        self.lifecycle = Lifecycle(hooks, settings)
        self.watching = not settings.skip_config_watch
        self.watcher = DirectoryWatcher() if self.watching else None
        self._signals: list[int] = EARLY_SIGNALS
        self._debounce = Timer()
        self._burst_started: float | None = None
        self._resync = Timer()
        self._retry = Timer()
        self._retry_delay = RETRY_FIRST
        self._watchdog = Timer()
        self._extend = Timer()
        self._progress = Timer()
        self._waiting_since: float | None = None
        self._cleaned_dirs: set[Path] = set()

    # -- set-up ---------------------------------------------------------------------

    def _install_signal_handlers(self) -> socket.socket:
        reader, writer = socket.socketpair()
        reader.setblocking(False)
        writer.setblocking(False)
        signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
        self._wakeup_writer = writer
        for signum in (*_STOP_SIGNALS, signal.SIGHUP):
            signal.signal(signum, self._record_signal)
        return reader

    def _record_signal(self, signum: int, frame: object) -> None:
        self._signals.append(signum)

    def _watched_directories(self) -> list[Path]:
        directories = set(self.hooks.watch_paths(self.settings))
        directories.update(desired.path.parent for desired in self.lifecycle.desired)
        return sorted(directories)

    def _remove_stale_temporaries(self) -> None:
        fresh = set(self._watched_directories()) - self._cleaned_dirs
        for path in install.remove_stale_temporaries(sorted(fresh)):
            log.info("Removed temporary file %s left by an earlier run", path)
        self._cleaned_dirs |= fresh

    # -- one cycle ------------------------------------------------------------------

    def render(self) -> None:
        """Render and install through the state machine, then update watches and timers."""
        self._remove_stale_temporaries()
        self.lifecycle.render()
        self._remove_stale_temporaries()
        if self.watcher is not None:
            self.watcher.watch(self._watched_directories())
        self._schedule_retry()
        if self.watching and self.settings.resync_interval > 0:
            self._resync.start(self.settings.resync_interval)

    def _schedule_retry(self) -> None:
        failed_render = self.lifecycle.last_render_failed
        if self.lifecycle.install_failed or (failed_render and not self.watching):
            self._retry.start(self._retry_delay)
            self._retry_delay = min(self._retry_delay * 2, RETRY_MAX)
        else:
            self._retry.stop()
            self._retry_delay = RETRY_FIRST
        held_back_until = self.lifecycle.throttle.next_due()
        if held_back_until is not None:
            due = self._retry.due
            self._retry.due = held_back_until if due is None else min(due, held_back_until)

    def _reload(self) -> None:
        log.info("SIGHUP received; rendering every file again")
        self.notifier.reloading()
        self.lifecycle.comparer.forget()
        self.render()
        status = f"{self.lifecycle.state}: reloaded"
        if self.notifier.ready_sent:
            # READY=1 ends the reload; before the first ready state it would
            # claim a start that has not finished.
            self.notifier.ready(status)
        else:
            self.notifier.status(status)

    def _on_events(self) -> None:
        assert self.watcher is not None
        if not self.watcher.read_changes():
            return
        now = time.monotonic()
        if self._burst_started is None:
            self._burst_started = now
        quiet = now + self.settings.debounce
        latest = self._burst_started + max(MAX_DEBOUNCE_DELAY, 20 * self.settings.debounce)
        self._debounce.due = min(quiet, latest)

    # -- the loop -------------------------------------------------------------------

    def run(self) -> int:
        """Run until SIGTERM or SIGINT; return the exit status."""
        wakeup = self._install_signal_handlers()
        selector = selectors.DefaultSelector()
        selector.register(wakeup, selectors.EVENT_READ)
        if self.watcher is not None:
            self.watcher.watch(self._watched_directories())
            selector.register(self.watcher.fileno(), selectors.EVENT_READ)
        log.info(
            "Starting multus-config (pid %d, plugins: %s)",
            os.getpid(),
            ", ".join(self.hooks.plugin_names()),
        )
        if self.notifier.watchdog_interval:
            self._watchdog.start(0)
        stop_signal = next((signum for signum in self._signals if signum in _STOP_SIGNALS), None)
        if stop_signal is None:
            self._signals.clear()
            self.render()
        while stop_signal is None:
            self._tick_timers()
            timeout = self._next_timeout()
            for key, _ in selector.select(timeout):
                if key.fileobj is wakeup:
                    _drain(wakeup)
                else:
                    self._on_events()
            stop_signal = self._handle_signals()
            if stop_signal is not None:
                break
            self._run_due_work()

        log.info("Received %s; stopping", signal.Signals(stop_signal).name)
        return self._stop(selector, wakeup)

    def _handle_signals(self) -> int | None:
        """Act on recorded signals: return a stop signal, or reload once for any SIGHUPs."""
        pending, self._signals[:] = list(self._signals), []
        for signum in pending:
            if signum in _STOP_SIGNALS:
                return signum
        if signal.SIGHUP in pending:
            # Several SIGHUPs that arrived together need one reload only.
            self._reload()
        return None

    def _run_due_work(self) -> None:
        now = time.monotonic()
        due = False
        if self._debounce.expired(now):
            self._debounce.stop()
            self._burst_started = None
            due = True
        if self._retry.expired(now):
            self._retry.stop()
            due = True
        if self._resync.expired(now):
            log.debug("Periodic resync")
            due = True
        if due:
            self.render()

    def _show_waiting(self, now: float) -> None:
        """Update the terminal line that counts the seconds spent waiting for a first input."""
        if self.lifecycle.state != "init" or not self.lifecycle.last_render_failed:
            if self._waiting_since is not None:
                PROGRESS.clear()
                self._waiting_since = None
            self._progress.stop()
            return
        if self._waiting_since is None:
            self._waiting_since = now
        if self._progress.due is None or self._progress.expired(now):
            elapsed = now - self._waiting_since
            PROGRESS.show(f"waiting for a usable input ({elapsed:.0f} s): {self.lifecycle.waiting_for}")
            self._progress.start(PROGRESS_EVERY)

    def _tick_timers(self) -> None:
        now = time.monotonic()
        if PROGRESS.enabled:
            self._show_waiting(now)
        if self._watchdog.expired(now):
            self.notifier.ping_watchdog()
            assert self.notifier.watchdog_interval is not None
            self._watchdog.start(self.notifier.watchdog_interval)
        if self.lifecycle.state == "init" and self.notifier.enabled:
            if self._extend.due is None or self._extend.expired(now):
                self.notifier.extend_start_timeout(EXTEND_TIMEOUT)
                self._extend.start(EXTEND_EVERY)
        else:
            self._extend.stop()

    def _next_timeout(self) -> float | None:
        deadlines = [
            timer.due
            for timer in (self._debounce, self._retry, self._resync, self._watchdog, self._extend, self._progress)
            if timer.due is not None
        ]
        if not deadlines:
            return None
        return min(max(0.0, min(deadlines) - time.monotonic()), MAX_WAIT)

    # -- shutdown -------------------------------------------------------------------

    def _stop(self, selector: selectors.BaseSelector, wakeup: socket.socket) -> int:
        self.lifecycle.drain()
        if self.watcher is not None:
            selector.unregister(self.watcher.fileno())
            self.watcher.close()
        self.lifecycle.cleanup()
        selector.close()
        signal.set_wakeup_fd(-1)
        wakeup.close()
        self._wakeup_writer.close()
        log.info("Stopped")
        return 0


def _drain(sock: socket.socket) -> None:
    try:
        while sock.recv(4096):
            pass
    except BlockingIOError:
        pass
