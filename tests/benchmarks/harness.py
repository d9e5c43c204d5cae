"""Building blocks of the benchmarks: nodes, processes, inotify probes and /proc readers.

Every measurement is taken from outside the measured process: inotify watches
that this process holds, an AF_UNIX datagram socket standing in for systemd's
notify socket, and the kernel's accounting in ``/proc/PID``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inotify_simple import INotify
from inotify_simple import flags as inotify_flags

from tests.support import DATA, KUBERNETES_ENV, DirectoryEvents, Node

#: Name of the primary CNI config on every benchmark node.
MASTER_NAME = "10-calico.conflist"
#: Name of the file that a change of the primary config must replace.
MULTUS_CONF_NAME = "00-multus.conf"
KUBECONFIG_NAME = "multus.kubeconfig"
#: MTU of the primary config when a node is created.
FIRST_MTU = 1450
#: Upper bound for a process to reach its first steady state. It only guards against hangs.
READY_TIMEOUT = 20.0
#: Upper bound for one reaction. A polling implementation needs up to its interval.
REACTION_TIMEOUT = 5.0
#: Seconds without a change in the watched directories after which a process counts as settled.
QUIET_SECONDS = 0.3
#: Events that change a directory entry or a file, as opposed to reads: the
#: same set the tests' directory recorder watches.
CHANGE_EVENTS = DirectoryEvents.MASK
#: An install is a rename onto the target name or a write closed on it, so a
#: program that writes in place is counted as well as one that renames.
INSTALL_EVENTS = inotify_flags.MOVED_TO | inotify_flags.CLOSE_WRITE
ALL_EVENTS = (
    inotify_flags.ACCESS
    | inotify_flags.MODIFY
    | inotify_flags.ATTRIB
    | inotify_flags.CLOSE_WRITE
    | inotify_flags.CLOSE_NOWRITE
    | inotify_flags.OPEN
    | inotify_flags.MOVED_FROM
    | inotify_flags.MOVED_TO
    | inotify_flags.CREATE
    | inotify_flags.DELETE
    | inotify_flags.DELETE_SELF
    | inotify_flags.MOVE_SELF
)
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
#: Flags of multus-config whose defaults are paths outside the node, with the file
#: name used inside the node instead. They are passed only to executables that list them.
NODE_FILE_FLAGS = {"--lock-file": "multus-config.lock", "--state-file": "status.json"}


class ScenarioError(Exception):
    """A measurement could not be taken, for example because the process exited."""


# -- /proc readers --------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """Return utime + stime of *pid* in seconds, from ``/proc/PID/stat`` (clock-tick resolution)."""
    text = Path(f"/proc/{pid}/stat").read_text()
    # The command name may contain spaces and parentheses, so split after the last ")".
    fields = text[text.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / CLOCK_TICKS


def cpu_nanoseconds(pid: int) -> int:
    """Return the time *pid* spent on a CPU in nanoseconds, from ``/proc/PID/schedstat``."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])


def memory_kib(pid: int, key: str = "VmRSS") -> int:
    """Return a ``/proc/PID/status`` memory figure such as VmRSS or VmHWM, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise ScenarioError(f"{key} not found in /proc/{pid}/status")


# -- the implementation under test --------------------------------------------------------


@dataclass
class Implementation:
    """An executable that takes thin_entrypoint's flags, and what it supports beyond them."""

    label: str
    command: list[str]
    #: Whether ``--service-account-dir`` is accepted, so the kubeconfig can be pointed at a test account.
    service_account_flag: bool = False
    #: Flags of :data:`NODE_FILE_FLAGS` that ``--help`` lists, so they can point into the node.
    node_file_flags: tuple[str, ...] = ()
    #: Whether ``READY=1`` arrives on ``NOTIFY_SOCKET``, or ``None`` before the probe.
    ready_notification: bool | None = None
    #: Flags appended after the node's flags.
    extra_flags: list[str] = field(default_factory=list)

    @classmethod
    def probe(cls, label: str, command: list[str]) -> Implementation:
        """Run ``COMMAND --help`` and note which optional flags it lists."""
        try:
            result = subprocess.run(
                [*command, "--help"],
                capture_output=True,
                timeout=30,
                env=process_environment(None),
                check=False,
            )
        except OSError as error:
            raise SystemExit(f"cannot run {command[0]}: {error.strerror or error}") from None
        except subprocess.TimeoutExpired:
            raise SystemExit(f"{command[0]} --help timed out after 30 s") from None
        text = (result.stdout + result.stderr).decode(errors="replace")
        if "--cni-conf-dir" not in text:
            raise SystemExit(f"{command[0]} does not take thin_entrypoint's flags: its --help does not list --cni-conf-dir. Pass an executable that does.")
        return cls(
            label=label,
            command=list(command),
            service_account_flag="--service-account-dir" in text,
            node_file_flags=tuple(flag for flag in NODE_FILE_FLAGS if flag in text),
        )

    def flags(self, node: BenchNode) -> list[str]:
        """Return the flags that point every directory into *node* and turn watching on.

        ``--cleanup-config-on-exit=true`` is passed because thin_entrypoint
        watches the primary config only with it.
        """
        flags = [
            f"--cni-conf-dir={node.conf}",
            f"--multus-autoconfig-dir={node.conf}",
            f"--cni-bin-dir={node.bin}",
            "--skip-multus-binary-copy=true",
            "--multus-kubeconfig-file-host=/etc/cni/net.d/multus.d/multus.kubeconfig",
            "--cleanup-config-on-exit=true",
        ]
        if self.service_account_flag:
            flags.append(f"--service-account-dir={node.sa}")
        for flag in self.node_file_flags:
            flags.append(f"{flag}={node.root / NODE_FILE_FLAGS[flag]}")
        return [*flags, *self.extra_flags]


def process_environment(notify_socket: Path | None) -> dict[str, str]:
    """Return the environment of a measured process: this one's, the pod variables, *notify_socket*."""
    ignored = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM")
    environment = {key: value for key, value in os.environ.items() if key not in ignored}
    environment.update(KUBERNETES_ENV)
    if notify_socket is not None:
        environment["NOTIFY_SOCKET"] = str(notify_socket)
    return environment


# -- the node -------------------------------------------------------------------------


def master_document(mtu: int) -> str:
    """Return the primary config (a Calico config list) with *mtu* in its first plugin."""
    document = json.loads((DATA / "calico.conflist").read_text())
    document["plugins"][0]["mtu"] = mtu
    return json.dumps(document, indent=2)


def find_mtu(value: Any) -> int | None:
    """Return the first ``mtu`` value found at any depth of a parsed JSON *value*."""
    stack = [value]
    while stack:
        item = stack.pop(0)
        if isinstance(item, dict):
            if isinstance(item.get("mtu"), int):
                return item["mtu"]
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


@dataclass
class BenchNode:
    """A temporary node whose service account is laid out as kubelet projects it.

    kubelet writes ``token -> ..data/token`` and ``..data -> ..<timestamp>``
    and rotates by renaming a new ``..data`` symlink over the old one.
    """

    root: Path
    conf: Path
    bin: Path
    sa: Path
    data_dir: Path
    _rotations: int = 0

    @classmethod
    def create(cls, root: Path, unrelated_files: int = 0) -> BenchNode:
        plain = Node.create(root, token="token-0")
        ca = (plain.sa / "ca.crt").read_bytes()
        (plain.sa / "token").unlink()
        (plain.sa / "ca.crt").unlink()
        node = cls(plain.root, plain.conf, plain.bin, plain.sa, plain.sa / "..bench_000000")
        node._populate(node.data_dir, "token-0", ca)
        os.symlink(node.data_dir.name, node.sa / "..data")
        os.symlink("..data/token", node.sa / "token")
        os.symlink("..data/ca.crt", node.sa / "ca.crt")
        (node.conf / MASTER_NAME).write_text(master_document(FIRST_MTU))
        create_unrelated_files(node.conf, unrelated_files)
        return node

    @staticmethod
    def _populate(directory: Path, token: str, ca: bytes) -> None:
        directory.mkdir()
        (directory / "token").write_text(token)
        (directory / "ca.crt").write_bytes(ca)

    @property
    def multus_conf(self) -> Path:
        return self.conf / MULTUS_CONF_NAME

    @property
    def kubeconfig(self) -> Path:
        return self.conf / "multus.d" / KUBECONFIG_NAME

    def prepare_master(self, mtu: int) -> Path:
        """Write the primary config with *mtu* beside the conf dir, ready to be renamed into it."""
        staged = self.root / ".master.staged"
        staged.write_text(master_document(mtu))
        return staged

    def install_master(self, staged: Path) -> int:
        """Rename *staged* over the primary config and return ``time.monotonic_ns()`` taken just before."""
        start = time.monotonic_ns()
        os.rename(staged, self.conf / MASTER_NAME)
        return start

    def rotate_token(self, token: str) -> int:
        """Rotate the token as kubelet does and return ``time.monotonic_ns()`` taken just before the swap.

        A new timestamped directory is written, ``..data`` is replaced by a
        rename and the previous directory is removed.
        """
        self._rotations += 1
        old = self.data_dir
        new = self.sa / f"..bench_{self._rotations:06d}"
        self._populate(new, token, (old / "ca.crt").read_bytes())
        os.symlink(new.name, self.sa / "..data_tmp")
        start = time.monotonic_ns()
        os.rename(self.sa / "..data_tmp", self.sa / "..data")
        shutil.rmtree(old)
        self.data_dir = new
        return start

    def watched_directories(self) -> list[Path]:
        """Return the conf and service-account directories that exist, including kubelet's data directory."""
        return [path for path in (self.conf, self.kubeconfig.parent, self.sa, self.data_dir) if path.is_dir()]


def create_unrelated_files(directory: Path, count: int, watch: InstallWatch | None = None) -> None:
    """Create *count* small ``.txt`` files that no CNI runtime loads.

    When *watch* is given its queue is drained every 1,000 files, so it cannot overflow.
    """
    content = b"x" * 64
    for index in range(count):
        (directory / f"unrelated-{index:05d}.txt").write_bytes(content)
        if watch is not None and index % 1000 == 999:
            watch.collect()


def delete_unrelated_files(directory: Path, count: int, watch: InstallWatch | None = None) -> None:
    """Delete the files :func:`create_unrelated_files` created."""
    for index in range(count):
        os.unlink(directory / f"unrelated-{index:05d}.txt")
        if watch is not None and index % 1000 == 999:
            watch.collect()


def kubeconfig_token(path: Path) -> str | None:
    """Return the token written in the kubeconfig at *path*, or ``None``."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("token:"):
            value = stripped.removeprefix("token:").strip()
            return json.loads(value) if value.startswith('"') else value
    return None


def multus_conf_mtu(path: Path) -> int | None:
    """Return the MTU of the delegate in the multus config at *path*, or ``None``."""
    try:
        return find_mtu(json.loads(path.read_bytes()))
    except (FileNotFoundError, ValueError):
        return None


@contextmanager
def temporary_node(base: Path, name: str, unrelated_files: int = 0) -> Iterator[BenchNode]:
    """Create a fresh node under *base* and remove it afterwards."""
    root = base / name
    try:
        yield BenchNode.create(root, unrelated_files)
    finally:
        shutil.rmtree(root, ignore_errors=True)


# -- inotify probes ---------------------------------------------------------------------


class InstallWatch:
    """Records installs of one file name in one directory, timestamped when the event is read."""

    def __init__(self, directory: Path, name: str) -> None:
        self.name = name
        self._inotify = INotify(nonblocking=True)
        self._inotify.add_watch(directory, INSTALL_EVENTS)
        self.count = 0
        self.overflowed = False

    def _matching(self, events: Iterable[Any]) -> int:
        matching = 0
        for event in events:
            if event.mask & inotify_flags.Q_OVERFLOW:
                self.overflowed = True
            elif event.name == self.name:
                matching += 1
        self.count += matching
        return matching

    def collect(self) -> int:
        """Read pending events and return how many installs they contain."""
        return self._matching(self._inotify.read(timeout=0))

    def wait(self, timeout: float) -> int | None:
        """Wait for the next install and return ``time.monotonic_ns()`` when it was read, or ``None`` on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            events = self._inotify.read(timeout=max(1, int(remaining * 1000)))
            now = time.monotonic_ns()
            if self._matching(events):
                return now

    def close(self) -> None:
        self._inotify.close()


class ChangeWatch:
    """Watches directories for changes, to tell when a process has settled."""

    def __init__(self, directories: Iterable[Path]) -> None:
        self._inotify = INotify(nonblocking=True)
        for directory in directories:
            self._inotify.add_watch(directory, CHANGE_EVENTS)

    def wait_quiet(self, quiet: float = QUIET_SECONDS, timeout: float = READY_TIMEOUT) -> bool:
        """Discard events until none arrives for *quiet* seconds. Return ``False`` on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self._inotify.read(timeout=int(quiet * 1000)):
                return True
        return False

    def close(self) -> None:
        self._inotify.close()


class EventRecorder:
    """Records every inotify event, reads included, in a set of directories."""

    def __init__(self, directories: Iterable[Path]) -> None:
        self._inotify = INotify(nonblocking=True)
        self._names: dict[int, Path] = {}
        for directory in directories:
            self._names[self._inotify.add_watch(directory, ALL_EVENTS)] = directory

    def read(self) -> list[str]:
        """Return one line per pending event: the path and the event flags."""
        lines = []
        for event in self._inotify.read(timeout=0):
            names = "|".join(flag.name for flag in inotify_flags.from_mask(event.mask) if flag.name)
            directory = self._names.get(event.wd, Path("?"))
            lines.append(f"{directory / event.name if event.name else directory}: {names}")
        return lines

    def close(self) -> None:
        self._inotify.close()


# -- the notify socket ------------------------------------------------------------------


class NotifyReceiver:
    """A datagram socket bound like systemd's notify socket, read by a thread.

    The thread keeps the socket drained, because a full socket would block
    the sender, and timestamps each datagram with ``time.monotonic_ns()``
    when it is received.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._socket.bind(str(path))
        self._socket.settimeout(0.1)
        self._condition = threading.Condition()
        self._messages: list[tuple[int, str]] = []
        self._stopping = False
        self._thread = threading.Thread(target=self._receive, name="notify-receiver", daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        while not self._stopping:
            try:
                data = self._socket.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            received = time.monotonic_ns()
            with self._condition:
                self._messages.append((received, data.decode(errors="replace")))
                self._condition.notify_all()

    def first(self, line: str, timeout: float) -> int | None:
        """Wait for a datagram containing *line* and return its receive time, or ``None`` on timeout."""
        deadline = time.monotonic() + timeout
        with self._condition:
            while True:
                for received, message in self._messages:
                    if line in message.splitlines():
                        return received
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._condition.wait(remaining)

    def close(self) -> None:
        self._stopping = True
        self._thread.join()
        self._socket.close()


# -- the measured process -------------------------------------------------------------------


@dataclass
class Running:
    """An implementation running on a node, with its notify socket and log."""

    implementation: Implementation
    node: BenchNode
    process: subprocess.Popen[bytes]
    notify: NotifyReceiver
    log_path: Path
    #: ``time.monotonic_ns()`` just before the process was spawned.
    started_ns: int

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, lines: int = 5) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return " | ".join(text.strip().splitlines()[-lines:])

    def check_alive(self) -> None:
        """Raise :class:`ScenarioError` when the process has exited."""
        status = self.process.poll()
        if status is not None:
            raise ScenarioError(f"{self.implementation.label} exited with status {status}: {self.log_tail()}")

    def wait_ready(self) -> None:
        """Wait for the first steady state: outputs in place, READY=1 when supported, then quiet."""
        node = self.node
        deadline = time.monotonic() + READY_TIMEOUT
        outputs = [node.multus_conf]
        if self.implementation.service_account_flag:
            outputs.append(node.kubeconfig)
        while not all(path.exists() for path in outputs):
            self.check_alive()
            if time.monotonic() >= deadline:
                missing = ", ".join(str(path) for path in outputs if not path.exists())
                raise ScenarioError(f"{self.implementation.label} did not write {missing} within {READY_TIMEOUT:g} s: {self.log_tail()}")
            time.sleep(0.01)
        if self.implementation.ready_notification:
            if self.notify.first("READY=1", max(0.0, deadline - time.monotonic())) is None:
                raise ScenarioError(f"{self.implementation.label} sent no READY=1 within {READY_TIMEOUT:g} s")
        watch = ChangeWatch(node.watched_directories())
        try:
            if not watch.wait_quiet():
                raise ScenarioError(f"{self.implementation.label} kept changing its files for {READY_TIMEOUT:g} s")
        finally:
            watch.close()
        self.check_alive()

    def stop(self) -> int | None:
        """Stop the process with SIGTERM, or SIGKILL after 10 s, and return the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


@contextmanager
def running(implementation: Implementation, node: BenchNode, wait_ready: bool = True) -> Iterator[Running]:
    """Start *implementation* on *node* with a notify socket, and stop it when the block ends."""
    notify = NotifyReceiver(node.root / "notify.sock")
    log_path = node.root / "process.log"
    command = [*implementation.command, *implementation.flags(node)]
    try:
        with open(log_path, "wb") as log_file:
            started = time.monotonic_ns()
            process = subprocess.Popen(
                command,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=process_environment(notify.path),
            )
    except BaseException:
        notify.close()
        raise
    run = Running(implementation, node, process, notify, log_path, started)
    try:
        if wait_ready:
            run.wait_ready()
        yield run
    finally:
        run.stop()
        notify.close()


def wait_cpu_settled(pid: int, quiet: float = 0.5, timeout: float = 60.0) -> None:
    """Wait until *pid* has used no CPU for *quiet* seconds, as an idle event loop does."""
    deadline = time.monotonic() + timeout
    last = cpu_nanoseconds(pid)
    quiet_since = time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.05)
        current = cpu_nanoseconds(pid)
        if current != last:
            last = current
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= quiet:
            return
    raise ScenarioError(f"process {pid} was still using CPU after {timeout:g} s")


def default_executable() -> list[str]:
    """Return the command of the ``multus-config`` installed beside this interpreter."""
    script = Path(sys.prefix) / "bin" / "multus-config"
    if script.exists():
        return [str(script)]
    found = shutil.which("multus-config")
    if found:
        return [found]
    return [sys.executable, "-m", "supervisor"]
