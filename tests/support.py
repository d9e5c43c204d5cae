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

DATA = Path(__file__).parent / "data"
#: Upper bound for waiting on the supervisor. Tests never assert on elapsed
#: time; this only keeps a broken build from hanging the run.
WAIT_SECONDS = 15.0
#: Default service-account token: distinctive, so that a test can prove it
#: never reaches a log line.
MARKER_TOKEN = "marker-token-7Qz9-never-logged"
KUBERNETES_ENV = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": "6443"}


def wait_until(predicate: Callable[[], object], timeout: float = WAIT_SECONDS, interval: float = 0.02) -> bool:
    """Poll *predicate* until it is true or *timeout* passes; return its last truth."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return bool(predicate())
        time.sleep(interval)


def atomic_write(path: Path, content: bytes | str, mode: int = 0o644) -> None:
    """Replace *path* as a well-behaved writer does: temporary file elsewhere, then rename."""
    data = content.encode() if isinstance(content, str) else content
    temporary = path.parent.parent / f".{path.name}.writer-tmp"
    temporary.write_bytes(data)
    os.chmod(temporary, mode)
    os.rename(temporary, path)


def read_or_none(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


@dataclass
class Node:
    """A temporary node layout: CNI config and binary directories and a service account."""

    root: Path
    conf: Path
    bin: Path
    sa: Path

    @classmethod
    def create(cls, root: Path, token: str = MARKER_TOKEN, ca: bytes | None = None) -> Node:
        conf = root / "etc/cni/net.d"
        bin_dir = root / "opt/cni/bin"
        sa = root / "sa"
        for directory in (conf, bin_dir, sa):
            directory.mkdir(parents=True)
        (sa / "token").write_text(token)
        (sa / "ca.crt").write_bytes(ca if ca is not None else (DATA / "ca.crt").read_bytes())
        return cls(root, conf, bin_dir, sa)

    def flags(self, *extra: str, binary: bool = False) -> list[str]:
        """Return flags that point every directory into this node, plus *extra*."""
        flags = [
            f"--cni-conf-dir={self.conf}",
            f"--multus-autoconfig-dir={self.conf}",
            f"--cni-bin-dir={self.bin}",
            f"--service-account-dir={self.sa}",
            "--multus-kubeconfig-file-host=/etc/cni/net.d/multus.d/multus.kubeconfig",
            f"--lock-file={self.root / 'multus-config.lock'}",
        ]
        if not binary:
            flags.append("--skip-multus-binary-copy")
        return [*flags, *extra]

    @property
    def multus_conf(self) -> Path:
        return self.conf / "00-multus.conf"

    @property
    def multus_conflist(self) -> Path:
        return self.conf / "00-multus.conflist"

    @property
    def kubeconfig(self) -> Path:
        return self.conf / "multus.d" / "multus.kubeconfig"


def secrets_in(args: Sequence[str]) -> list[str]:
    """Return the token and CA lines of the service account named in *args*.

    Only values long enough to be told apart from ordinary log words count.
    """
    directory = None
    for arg in args:
        if arg.startswith("--service-account-dir="):
            directory = Path(arg.split("=", 1)[1])
    if directory is None:
        return []
    found = []
    token = read_or_none(directory / "token")
    if token is not None:
        found.append(token.decode(errors="replace").strip())
    ca = read_or_none(directory / "ca.crt")
    if ca is not None:
        found.extend(line for line in ca.decode(errors="replace").splitlines() if "CERTIFICATE" not in line)
    return [value for value in found if len(value) >= 12]


@dataclass
class SupervisorProcess:
    """A running ``python -m supervisor`` with its log captured in a file."""

    process: subprocess.Popen[bytes]
    log_path: Path
    args: list[str] = field(default_factory=list)

    @classmethod
    def start(
        cls,
        args: Iterable[str],
        log_path: Path,
        env: Mapping[str, str] | None = None,
        umask: int | None = None,
        wrapper: Sequence[str] = (),
    ) -> SupervisorProcess:
        """Start the supervisor, through the command prefix *wrapper* when one is given.

        The wrapper must exec the command that follows it, as ``unshare`` without
        ``--fork`` and ``sh -c '... exec "$@"'`` do, so that ``process`` is the
        supervisor itself and receives the signals the tests send.
        """
        environment = {key: value for key, value in os.environ.items() if key not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "JOURNAL_STREAM")}
        environment.update(KUBERNETES_ENV)
        environment.update(env or {})
        args = list(args)
        # The lock and state files default to /run; tests keep their own.
        for flag, name in (("--lock-file", "multus-config.lock"), ("--state-file", "status.json")):
            if not any(arg.startswith(flag) for arg in args):
                args.append(f"{flag}={log_path.with_suffix('')}.{name}")
        command = [*wrapper, sys.executable, "-m", "supervisor", *args]
        log_file = open(log_path, "wb")  # noqa: SIM115 - closed when the process ends
        preexec = (lambda: os.umask(umask)) if umask is not None else None
        process = subprocess.Popen(
            command, stdout=log_file, stderr=subprocess.STDOUT, env=environment, preexec_fn=preexec
        )
        log_file.close()
        return cls(process, log_path, list(args))

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def running(self) -> bool:
        return self.process.poll() is None

    def send(self, signum: int) -> None:
        self.process.send_signal(signum)

    def stop(self, signum: int = signal.SIGTERM, timeout: float = WAIT_SECONDS) -> int:
        """Send *signum* and return the exit status."""
        if self.running():
            self.process.send_signal(signum)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise

    def wait_exit(self, timeout: float = WAIT_SECONDS) -> int | None:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def wait_log(self, text: str, timeout: float = WAIT_SECONDS) -> bool:
        return wait_until(lambda: text in self.log(), timeout)


class NotifySocket:
    """A datagram socket that receives sd_notify messages, as systemd's does."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.setblocking(False)
        self.messages: list[str] = []

    def receive(self) -> list[str]:
        """Collect every pending datagram and return all messages so far."""
        while True:
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                return self.messages
            self.messages.append(data.decode())

    def lines(self) -> list[str]:
        return [line for message in self.receive() for line in message.splitlines()]

    def wait_for(self, line: str, timeout: float = WAIT_SECONDS) -> bool:
        return wait_until(lambda: line in self.lines(), timeout)

    def close(self) -> None:
        self.sock.close()


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
