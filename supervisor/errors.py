"""Exceptions named after what the supervisor does next."""

from __future__ import annotations

from pathlib import Path


class UsageError(Exception):
    """An invalid option value: the process exits with status 2 before writing."""


class WaitForInput(Exception):
    """Raised by a renderer whose inputs are not usable yet.

    The supervisor keeps every installed file as it is, logs the message once,
    shows it in the systemd status and renders again on the next input event.

    :param message: one line that names the input and what is wrong with it.
    :param path: the input file or directory concerned, when there is one.
    :param kind: a short category for logs and metrics, such as
        ``"invalid-json"`` or ``"missing-file"``.
    """

    def __init__(self, message: str, *, path: Path | None = None, kind: str = "input") -> None:
        super().__init__(message)
        self.path = path
        self.kind = kind
