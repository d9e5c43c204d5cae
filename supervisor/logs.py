"""Logging set-up: the systemd journal when available, plain lines otherwise."""

from __future__ import annotations

import logging
import os
import re
import sys
from typing import Any

#: Journal fields the supervisor attaches to its records.
FIELD_STATE = "MULTUS_CONFIG_STATE"
FIELD_FILE = "MULTUS_CONFIG_FILE"
FIELD_HASH = "MULTUS_CONFIG_HASH"
FIELD_ERROR_KIND = "MULTUS_CONFIG_ERROR_KIND"


class StateField(logging.Filter):
    """Adds the current lifecycle state to every record as a journal field."""

    def __init__(self) -> None:
        super().__init__()
        self.state = "init"

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, FIELD_STATE):
            setattr(record, FIELD_STATE, self.state)
        return True


#: The filter on the supervisor's log handler; observers update its state.
STATE_FIELD = StateField()

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class ControlCharacterEscape(logging.Filter):
    """Escapes control characters in messages, so a file name with a newline
    cannot forge a log line of its own."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if _CONTROL.search(message):
            record.msg = _CONTROL.sub(lambda match: repr(match.group())[1:-1], message)
            record.args = ()
        return True


def fields(path: object = None, sha256: str | None = None, error_kind: str | None = None) -> dict[str, Any]:
    """Return ``extra=`` fields for a log call, leaving out the ones not given."""
    extra: dict[str, Any] = {}
    if path is not None:
        extra[FIELD_FILE] = str(path)
    if sha256 is not None:
        extra[FIELD_HASH] = sha256
    if error_kind is not None:
        extra[FIELD_ERROR_KIND] = error_kind
    return extra


def configure(level: str) -> None:
    """Send the supervisor's log records to the journal or to stderr.

    The journal is used when ``JOURNAL_STREAM`` is set (stderr is connected
    to the journal) and the optional ``systemd-python`` package is importable.
    Records then carry the fields ``MULTUS_CONFIG_STATE`` and, where they
    apply, ``MULTUS_CONFIG_FILE``, ``MULTUS_CONFIG_HASH`` and
    ``MULTUS_CONFIG_ERROR_KIND``.
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
    handler.addFilter(ControlCharacterEscape())
    handler.addFilter(STATE_FIELD)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper() if level else "INFO")
    # The state machine library logs every step at INFO; ours are enough.
    logging.getLogger("transitions").setLevel(logging.WARNING)
