"""Progress lines on an interactive terminal; silent under systemd, in a pod or in a pipe."""

from __future__ import annotations

import sys
from typing import TextIO

_CLEAR_LINE = "\r\x1b[K"


class TerminalProgress:
    """Shows one updating status line on stderr when stderr is a terminal."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self._shown = False

    def show(self, text: str) -> None:
        """Replace the progress line with *text*."""
        if not self.enabled:
            return
        self.stream.write(f"{_CLEAR_LINE}{text}")
        self.stream.flush()
        self._shown = True

    def clear(self) -> None:
        """Remove the progress line, so that log lines start at the left margin again."""
        if self.enabled and self._shown:
            self.stream.write(_CLEAR_LINE)
            self.stream.flush()
            self._shown = False

    def bytes_written(self, label: str, done: int, total: int) -> None:
        """Show how much of a large file is written."""
        percent = 100 * done // total if total else 100
        self.show(f"writing {label}: {done // (1 << 20)} of {total // (1 << 20)} MiB ({percent} %)")


#: The process's progress line.
PROGRESS = TerminalProgress()
