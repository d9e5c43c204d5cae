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
        self._dropped = 0
        if self.enabled:
            import sdnotify

            self._sender = sdnotify.SystemdNotifier()
            if self._sender.socket is not None:
                # A receiver that stops reading must not stall the main loop;
                # a full socket drops the message instead (see send).
                self._sender.socket.setblocking(False)
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
        """Send one notification made of *lines*; drop it when the socket is full."""
        if self._sender is None or self._sender.socket is None:
            return
        data = "\n".join(lines).encode("ascii", "backslashreplace")
        try:
            self._sender.socket.send(data)
        except BlockingIOError:
            self._dropped += 1
            if self._dropped == 1:
                log.warning("The systemd notify socket is full; dropping notifications until it is read")
        except OSError as error:
            log.debug("Cannot send a systemd notification: %s", error)
        else:
            self._dropped = 0

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
        if transition.dest == "steady" and transition.error_kind is None and not self.ready_sent:
            self.ready(status)
        elif transition.dest == "draining":
            self.send("STOPPING=1", f"STATUS={status}")
        else:
            self.status(status)
