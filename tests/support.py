"""Helpers shared by the tests: a node layout, a supervisor process, a notify socket.

Everything is real: files in a temporary directory, the installed
``multus-config`` run as a child process, signals, inotify and an AF_UNIX
datagram socket standing in for systemd's notify socket.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from inotify_simple import INotify
from inotify_simple import flags as inotify_flags

from plugins import testing
from plugins.testing import (  # noqa: F401 - re-exported for the tests
    KUBERNETES_ENV,
    MARKER_TOKEN,
    WAIT_SECONDS,
    NotifySocket,
    SupervisorProcess,
    atomic_write,
    read_or_none,
    secrets_in,
    wait_until,
)

DATA = Path(__file__).parent / "data"


class Node(testing.Node):
    """The public test node, with the recorded CA of the reference runs as default."""

    @classmethod
    def create(cls, root: Path, token: str = MARKER_TOKEN, ca: bytes | None = None) -> Node:
        return super().create(root, token, ca if ca is not None else (DATA / "ca.crt").read_bytes())


# -- helpers for the reproduction tests under tests/cases ----------------------------

#: Input files of the reproduction tests, one folder per kind of fault.
CASES = DATA / "cases"
#: Files shared by several reproduction tests: the primary CNI configs and a service account.
COMMON = CASES / "common"
#: How long a test watches for an unwanted change once the supervisor has
#: logged that it handled the event. With a debounce of a few milliseconds,
#: anything the supervisor would do happens well inside this window.
QUIET_SECONDS = 1.0
#: Log text of every render that ends with the files current (at any log level
#: for the first one, at ``--log-level=debug`` for each later one).
STEADY_MARK = "-> steady:"


def create_case_node(root: Path) -> Node:
    """Create a node whose service account contains the common token and CA."""
    account = COMMON / "sa"
    return Node.create(root, token=(account / "token").read_text(), ca=(account / "ca.crt").read_bytes())


def log_count(supervisor: SupervisorProcess, text: str) -> int:
    """Return how often *text* occurs in the supervisor's log so far."""
    return supervisor.log().count(text)


def wait_log_count(supervisor: SupervisorProcess, text: str, count: int, timeout: float = WAIT_SECONDS) -> bool:
    """Wait until *text* occurs at least *count* times in the supervisor's log."""
    return wait_until(lambda: log_count(supervisor, text) >= count, timeout)


def wait_log_after(supervisor: SupervisorProcess, text: str, offset: int, timeout: float = WAIT_SECONDS) -> bool:
    """Wait until *text* occurs in the log after character *offset*."""
    return wait_until(lambda: text in supervisor.log()[offset:], timeout)


def kubeconfig_value(text: str, key: str) -> str | None:
    """Return the value of *key* in a kubeconfig as Multus writes it, unquoting a JSON string."""
    match = re.search(rf"^\s*{re.escape(key)}: (.*)$", text, re.MULTILINE)
    if match is None:
        return None
    value = match.group(1).strip()
    if value.startswith('"'):
        return json.loads(value)
    return value


def plugin_types(value: object) -> set[str]:
    """Return every string "type" value found at any depth inside a parsed JSON *value*."""
    found = set()
    if isinstance(value, dict):
        if isinstance(value.get("type"), str):
            found.add(value["type"])
        for item in value.values():
            found |= plugin_types(item)
    elif isinstance(value, list):
        for item in value:
            found |= plugin_types(item)
    return found


def load_json_or_none(content: bytes | None) -> object | None:
    """Return *content* parsed as JSON, or ``None`` when it is missing or not JSON."""
    if content is None:
        return None
    try:
        return json.loads(content)
    except ValueError:
        return None


@dataclass(frozen=True)
class Observation:
    """One read of a file by :class:`FilePoller`."""

    #: Label of the test step during which the file was read.
    phase: str
    path: Path
    #: File content, or ``None`` when the file did not exist.
    content: bytes | None


class FilePoller:
    """A background thread that reads files every *interval* seconds and records every read.

    Use it as a context manager. Set :attr:`phase` to label the reads that follow.
    """

    def __init__(self, paths: Iterable[Path], interval: float = 0.02) -> None:
        self.paths = list(paths)
        self.interval = interval
        self.phase = "start"
        self.observations: list[Observation] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="file-poller", daemon=True)

    def __enter__(self) -> FilePoller:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop polling after one last read of every file."""
        if self._thread.is_alive():
            self._stop.set()
            self._thread.join()

    def _run(self) -> None:
        while True:
            stopping = self._stop.is_set()
            for path in self.paths:
                self.observations.append(Observation(self.phase, path, read_or_none(path)))
            if stopping:
                return
            self._stop.wait(self.interval)

    def seen(self, path: Path, phase: str | None = None) -> list[bytes | None]:
        """Return the contents read from *path*, only those of *phase* when given."""
        return [
            observation.content
            for observation in self.observations
            if observation.path == path and (phase is None or observation.phase == phase)
        ]


@dataclass(frozen=True)
class DirectoryEvent:
    """One inotify event in a watched directory."""

    directory: Path
    #: Name of the entry inside *directory*, or empty for an event on the directory itself.
    name: str
    #: Names of the inotify flags, such as ``{"CREATE"}`` or ``{"DELETE", "ISDIR"}``.
    flags: frozenset[str]


class DirectoryEvents:
    """A recorder of inotify events for entries created, written, renamed or removed in directories.

    Reads by anyone cause no events, because only changes are requested.
    Events queue in the kernel until :meth:`read` collects them.
    """

    MASK = (
        inotify_flags.CREATE
        | inotify_flags.DELETE
        | inotify_flags.MODIFY
        | inotify_flags.CLOSE_WRITE
        | inotify_flags.MOVED_FROM
        | inotify_flags.MOVED_TO
        | inotify_flags.ATTRIB
        | inotify_flags.DELETE_SELF
        | inotify_flags.MOVE_SELF
    )

    def __init__(self) -> None:
        self._inotify = INotify(nonblocking=True)
        self._directories: dict[int, Path] = {}
        self.events: list[DirectoryEvent] = []

    def watch(self, directory: Path) -> None:
        """Start recording events in *directory* (not in its subdirectories)."""
        self._directories[self._inotify.add_watch(directory, self.MASK)] = directory

    def read(self) -> list[DirectoryEvent]:
        """Collect the pending events and return every event recorded so far."""
        for event in self._inotify.read(timeout=0):
            directory = self._directories.get(event.wd)
            if directory is None:
                continue
            names = frozenset(flag.name for flag in inotify_flags.from_mask(event.mask) if flag.name)
            self.events.append(DirectoryEvent(directory, event.name, names))
        return self.events

    def close(self) -> None:
        self._inotify.close()


def directory_tree(directory: Path) -> list[str]:
    """Return the paths of every entry under *directory*, relative to it and sorted."""
    return sorted(str(path.relative_to(directory)) for path in directory.rglob("*"))


def temporary_files(directory: Path) -> list[str]:
    """Return the entries under *directory* that look like temporary files, relative to it.

    A temporary file is one whose name starts with a dot (the supervisor's own
    and most editors') or ends in ``.new`` (Multus-CNI's entrypoint) or ``.tmp``.
    """
    return [
        path
        for path in directory_tree(directory)
        if Path(path).name.startswith(".") or path.endswith((".new", ".tmp"))
    ]


def first_log_line(supervisor: SupervisorProcess, text: str) -> str | None:
    """Return the first line of the supervisor's log that contains *text*."""
    for line in supervisor.log().splitlines():
        if text in line:
            return line
    return None
