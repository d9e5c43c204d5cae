"""Test helpers for multus-config and its plugins: a temporary node, a running
supervisor, and a notify socket that records its systemd notifications.

Plugin authors use these through the pytest plugin in
:mod:`plugins.pytest_plugin` (fixtures ``multus_node``, ``multus_supervisor``
and ``multus_notify``) or import the classes directly. Everything is real:
files in a temporary directory, ``python -m supervisor`` as a child process,
signals, inotify and an AF_UNIX datagram socket in place of systemd's.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

#: Upper bound for waiting on the supervisor. Tests never assert on elapsed
#: time; this only keeps a broken build from hanging the run.
WAIT_SECONDS = 15.0
#: Default service-account token: distinctive, so that a test can prove it
#: never reaches a log line.
MARKER_TOKEN = "marker-token-7Qz9-never-logged"
#: A placeholder CA: a PEM block that is not a real certificate.
PLACEHOLDER_CA = (
    b"-----BEGIN CERTIFICATE-----\n"
    b"cGxhY2Vob2xkZXIgQ0EgZm9yIG11bHR1cy1jb25maWcgdGVzdHM=\n"
    b"-----END CERTIFICATE-----\n"
)
#: API server address written into the kubeconfig; nothing connects to it.
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
        (sa / "ca.crt").write_bytes(ca if ca is not None else PLACEHOLDER_CA)
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

    Only values long enough to be distinct from ordinary log words count.
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
    """A datagram socket that receives sd_notify messages, as systemd's does.

    A background thread reads it continuously, as systemd does, so the
    kernel's small datagram queue never fills while a test waits on files.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.1)
        self.messages: list[str] = []
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._reader = threading.Thread(target=self._read, name="notify-reader", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while not self._closed.is_set():
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.messages.append(data.decode())

    def receive(self) -> list[str]:
        """Return every message received so far."""
        with self._lock:
            return list(self.messages)

    def lines(self) -> list[str]:
        return [line for message in self.receive() for line in message.splitlines()]

    def wait_for(self, line: str, timeout: float = WAIT_SECONDS) -> bool:
        return wait_until(lambda: line in self.lines(), timeout)

    def close(self) -> None:
        self._closed.set()
        self._reader.join()
        self.sock.close()
