"""systemd notification: readiness, status, watchdog and stop.

Active only when ``NOTIFY_SOCKET`` is set, that is under a ``Type=notify``
service; otherwise every method does nothing.
"""

from __future__ import annotations

import logging
import os
import time

from supervisor.machine import TransitionInfo
from supervisor.markers import hookimpl

log = logging.getLogger(__name__)


class SystemdNotifier:
    """Sends sd_notify messages and observes the lifecycle for them."""

    def __init__(self) -> None:
        self.enabled = bool(os.environ.get("NOTIFY_SOCKET"))
        self.ready_sent = False
        self._sender = None
        if self.enabled:
            import sdnotify

            self._sender = sdnotify.SystemdNotifier()
        self.watchdog_interval = self._watchdog_interval()

    @staticmethod
    def _watchdog_interval() -> float | None:
        """Return half of ``WATCHDOG_USEC`` in seconds, when it is meant for this process."""
        usec = os.environ.get("WATCHDOG_USEC", "")
        pid = os.environ.get("WATCHDOG_PID", "")
        if not usec.isdigit() or int(usec) == 0:
            return None
        if pid and pid != str(os.getpid()):
            return None
        return int(usec) / 1_000_000 / 2

    def send(self, *lines: str) -> None:
        """Send one notification made of *lines*."""
        if self._sender is None:
            return
        # sdnotify encodes as Latin-1 and drops the message on failure.
        text = "\n".join(lines).encode("ascii", "backslashreplace").decode("ascii")
        self._sender.notify(text)

    def status(self, text: str) -> None:
        """Set the one-line status shown by ``systemctl status``."""
        self.send(f"STATUS={text}")

    def ping_watchdog(self) -> None:
        """Tell systemd the main loop is alive."""
        self.send("WATCHDOG=1")

    def extend_start_timeout(self, seconds: float) -> None:
        """Ask systemd to wait *seconds* more for readiness."""
        self.send(f"EXTEND_TIMEOUT_USEC={int(seconds * 1_000_000)}")

    def reloading(self) -> None:
        """Report that a reload started; ``ready`` ends it."""
        self.send("RELOADING=1", f"MONOTONIC_USEC={time.monotonic_ns() // 1000}", "STATUS=reloading")

    def ready(self, status: str) -> None:
        """Report readiness, at start or after a reload."""
        self.send("READY=1", f"STATUS={status}")
        self.ready_sent = True

    @hookimpl
    def multus_config_observe_transition(self, transition: TransitionInfo) -> None:
        status = f"{transition.dest}: {transition.message}"
        if transition.dest == "steady" and not self.ready_sent:
            self.ready(status)
        elif transition.dest == "draining":
            self.send("STOPPING=1", f"STATUS={status}")
        else:
            self.status(status)
