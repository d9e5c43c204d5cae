"""Logging set-up: the systemd journal when available, plain lines otherwise."""

from __future__ import annotations

import logging
import os
import sys


def configure(level: str) -> None:
    """Send the supervisor's log records to the journal or to stderr.

    The journal is used when ``JOURNAL_STREAM`` is set (stderr is connected
    to the journal) and the optional ``systemd-python`` package is importable.
    """
    handler: logging.Handler | None = None
    if os.environ.get("JOURNAL_STREAM"):
        try:
            from systemd.journal import JournalHandler
        except ImportError:
            handler = None
        else:
            handler = JournalHandler(SYSLOG_IDENTIFIER="multus-config")
            handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    if handler is None:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper() if level else "INFO")
    # The state machine library logs every step at INFO; ours are enough.
    logging.getLogger("transitions").setLevel(logging.WARNING)
