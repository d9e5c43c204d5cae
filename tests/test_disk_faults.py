"""Install failures on a full or read-only file system: disk, log and systemd status.

Each test starts the supervisor through ``unshare --mount --propagation
private``, which mounts a 64 KiB tmpfs on the CNI config directory and then
execs the supervisor. The tmpfs exists only in the supervisor's private mount
namespace and goes away when the supervisor exits. The test reaches it
through ``/proc/PID/root`` for file access and through ``nsenter`` for the
remounts. The primary CNI config is in its own ``--multus-autoconfig-dir``
outside the tmpfs, so the test can change it while the config directory
cannot be written.

Needs root, ``unshare`` and ``nsenter`` (util-linux).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.support import (
    DATA,
    STEADY_MARK,
    Node,
    NotifySocket,
    SupervisorProcess,
    atomic_write,
    log_count,
    temporary_files,
    wait_log_after,
    wait_log_count,
    wait_until,
)

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not (shutil.which("unshare") and shutil.which("nsenter")),
    reason="needs root, unshare and nsenter for a private mount namespace",
)

PRIMARY_NAME = "10-calico.conflist"
CONF_NAME = "00-multus.conf"
KUBECONFIG_NAME = "multus.d/multus.kubeconfig"
TMPFS_SIZE = "64k"
#: Mounts the tmpfs on the directory given as $0, then execs the supervisor command in "$@".
MOUNT_SCRIPT = f'mount -t tmpfs -o size={TMPFS_SIZE},mode=0755 multus-config-test "$0" && exec "$@"'
#: Logged once when an install starts failing, and again only after an install succeeded.
INSTALL_FAILED = "Install failed:"
INSTALL_RECOVERED = "Install succeeded again"
#: Logged by the state log on every install attempt that fails.
ATTEMPT_FAILED = "-> installed: install failed"
ENOSPC_TEXT = os.strerror(errno.ENOSPC)
EROFS_TEXT = os.strerror(errno.EROFS)
#: Bound on waiting for a retry that no event triggers: the longest retry delay
#: (60 s) with a margin. A correct supervisor retries well before that.
RETRY_WAIT_SECONDS = 70.0
#: How long the backoff test watches a full disk without causing any event.
BACKOFF_WINDOW_SECONDS = 3.0
#: Retries allowed in that window. With delays of 1 s, 2 s, 4 s ... after the
#: first failure a supervisor retries at most twice in 3 s. The bound leaves
#: room for scheduling jitter.
BACKOFF_MAX_ATTEMPTS = 4


def primary_config(mtu: int) -> str:
    """Return the calico primary config (cniVersion 0.3.1, so 00-multus.conf) with *mtu*."""
    document = json.loads((DATA / "calico.conflist").read_text())
    document["plugins"][0]["mtu"] = mtu
    return json.dumps(document, indent=2)


def delegate_mtu(content: bytes | None) -> int | None:
    """Return the calico MTU inside a rendered 00-multus.conf, or ``None``."""
    if content is None:
        return None
    try:
        return json.loads(content)["delegates"][0]["plugins"][0]["mtu"]
    except (ValueError, KeyError, IndexError, TypeError):
        return None


class StatusRecorder:
    """Receives sd_notify messages in a background thread and keeps the STATUS= values.

    The kernel queues at most ``net.unix.max_dgram_qlen`` (default 10)
    datagrams on the socket and then blocks the sender, so a test that reads
    only now and then would stall a supervisor that retries often.
    """

    def __init__(self, notify_socket: NotifySocket) -> None:
        self.notify_socket = notify_socket
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="status-recorder", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.01):
            self.notify_socket.receive()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def statuses(self) -> list[str]:
        lines = [line for message in list(self.notify_socket.messages) for line in message.splitlines()]
        return [line.removeprefix("STATUS=") for line in lines if line.startswith("STATUS=")]

    def current(self) -> str:
        """Return the status systemd would show now, empty before the first."""
        statuses = self.statuses()
        return statuses[-1] if statuses else ""


class PrivateConfDir:
    """The CNI config directory inside the supervisor's private mount namespace, a tmpfs."""

    def __init__(self, supervisor: SupervisorProcess, host_path: Path) -> None:
        self.pid = supervisor.process.pid
        #: Path of the mount point, the same inside and outside the namespace.
        self.host_path = host_path
        #: The tmpfs, reached from outside the namespace.
        self.path = Path(f"/proc/{self.pid}/root") / host_path.relative_to("/")

    def mounted(self) -> bool:
        """Return whether the mount point is on another file system inside the namespace than outside."""
        try:
            return os.stat(self.path).st_dev != os.stat(self.host_path).st_dev
        except OSError:
            return False

    def remount(self, option: str) -> None:
        """Remount the tmpfs with *option* (``ro`` or ``rw``) inside the supervisor's namespace."""
        command = ["nsenter", "-t", str(self.pid), "-m", "mount", "-o", f"remount,{option}", str(self.host_path)]
        subprocess.run(command, check=True, capture_output=True, timeout=10)

    def read_only(self) -> bool:
        return bool(os.statvfs(self.path).f_flag & os.ST_RDONLY)

    def free_blocks(self) -> int:
        return os.statvfs(self.path).f_bavail

    def fill(self, relative: str) -> Path:
        """Write zeros to the file *relative* until the tmpfs is full, and return the file's path."""
        path = self.path / relative
        path.parent.mkdir(exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            while True:
                os.write(fd, bytes(4096))
        except OSError as error:
            if error.errno != errno.ENOSPC:
                raise
        finally:
            os.close(fd)
        return path

    def read(self, relative: str) -> bytes | None:
        try:
            return (self.path / relative).read_bytes()
        except FileNotFoundError:
            return None

    def inode(self, relative: str) -> int:
        return os.stat(self.path / relative).st_ino

    def temporaries(self) -> list[str]:
        return temporary_files(self.path)


@pytest.fixture
def primary_dir(node: Node) -> Path:
    directory = node.root / "primary"
    directory.mkdir()
    (directory / PRIMARY_NAME).write_text(primary_config(1400))
    return directory


@pytest.fixture
def status_recorder(notify_socket):
    recorder = StatusRecorder(notify_socket)
    yield recorder
    recorder.stop()


@pytest.fixture
def on_tmpfs(node, primary_dir, start_supervisor, notify_socket, status_recorder):
    """Start the supervisor on a tmpfs config directory and wait for its first steady state."""
    wrapper = ["unshare", "--mount", "--propagation", "private", "sh", "-c", MOUNT_SCRIPT, str(node.conf)]
    supervisor = start_supervisor(
        *node.flags(f"--multus-autoconfig-dir={primary_dir}"),
        env={"NOTIFY_SOCKET": str(notify_socket.path)},
        wrapper=wrapper,
    )
    conf = PrivateConfDir(supervisor, node.conf)
    assert supervisor.wait_log(STEADY_MARK), supervisor.log()
    assert conf.mounted(), "the tmpfs is not mounted in the supervisor's namespace"
    assert wait_until(lambda: conf.read(CONF_NAME) is not None)
    assert wait_until(lambda: conf.read(KUBECONFIG_NAME) is not None)
    assert list(node.conf.iterdir()) == [], "the tmpfs leaked into the host's mount namespace"
    return supervisor, conf


def cause_failing_render(supervisor: SupervisorProcess, action) -> None:
    """Run *action*, which must make the supervisor render again, and wait for that failed attempt."""
    attempts = log_count(supervisor, ATTEMPT_FAILED)
    action()
    assert wait_log_count(supervisor, ATTEMPT_FAILED, attempts + 1), supervisor.log()


def test_disk_full_keeps_file_then_recovers(on_tmpfs, primary_dir, status_recorder):
    supervisor, conf = on_tmpfs
    old_conf = conf.read(CONF_NAME)
    old_inode = conf.inode(CONF_NAME)
    old_kubeconfig = conf.read(KUBECONFIG_NAME)
    filler = conf.fill("filler.d/zeros")
    assert conf.free_blocks() == 0
    statuses_before = len(status_recorder.statuses())

    offset = len(supervisor.log())
    atomic_write(primary_dir / PRIMARY_NAME, primary_config(1401))
    assert wait_log_after(supervisor, INSTALL_FAILED, offset), supervisor.log()
    cause_failing_render(supervisor, lambda: atomic_write(primary_dir / PRIMARY_NAME, primary_config(1402)))
    cause_failing_render(supervisor, lambda: (conf.path / "event").touch())
    cause_failing_render(supervisor, lambda: (conf.path / "event").unlink())
    cause_failing_render(supervisor, lambda: atomic_write(primary_dir / PRIMARY_NAME, primary_config(1403)))

    failure_lines = [line for line in supervisor.log().splitlines() if INSTALL_FAILED in line]
    assert len(failure_lines) == 1, failure_lines
    assert f"cannot write {conf.host_path / CONF_NAME}: {ENOSPC_TEXT}" in failure_lines[0]
    assert conf.read(CONF_NAME) == old_conf
    assert conf.inode(CONF_NAME) == old_inode
    assert conf.read(KUBECONFIG_NAME) == old_kubeconfig
    assert wait_until(lambda: conf.temporaries() == []), conf.temporaries()
    assert wait_until(lambda: ENOSPC_TEXT in status_recorder.current()), status_recorder.statuses()
    assert f"cannot write {conf.host_path / CONF_NAME}" in status_recorder.current()
    assert any("install failed" in status for status in status_recorder.statuses()[statuses_before:])
    assert supervisor.running()

    # The filler is in a directory the supervisor does not watch, so only its
    # retry timer can notice the free space, as on a node where space is freed
    # elsewhere on the file system.
    filler.unlink()
    assert wait_until(lambda: delegate_mtu(conf.read(CONF_NAME)) == 1403, RETRY_WAIT_SECONDS), supervisor.log()
    assert supervisor.wait_log(INSTALL_RECOVERED), supervisor.log()
    assert wait_until(lambda: "cannot write" not in status_recorder.current()), status_recorder.statuses()
    assert conf.temporaries() == []
    assert conf.read(KUBECONFIG_NAME) == old_kubeconfig
    assert log_count(supervisor, INSTALL_FAILED) == 1

    # A second episode is logged once more.
    conf.fill("filler.d/zeros")
    atomic_write(primary_dir / PRIMARY_NAME, primary_config(1404))
    assert wait_log_count(supervisor, INSTALL_FAILED, 2), supervisor.log()
    assert delegate_mtu(conf.read(CONF_NAME)) == 1403
    assert supervisor.running()


def test_disk_full_retries_back_off(on_tmpfs, primary_dir):
    supervisor, conf = on_tmpfs
    conf.fill("filler.d/zeros")
    offset = len(supervisor.log())
    atomic_write(primary_dir / PRIMARY_NAME, primary_config(1401))
    assert wait_log_after(supervisor, INSTALL_FAILED, offset), supervisor.log()
    attempts_before = log_count(supervisor, ATTEMPT_FAILED)

    # Nothing outside the supervisor changes anything during this window.
    time.sleep(BACKOFF_WINDOW_SECONDS)

    assert supervisor.running()
    retries = log_count(supervisor, ATTEMPT_FAILED) - attempts_before
    assert retries <= BACKOFF_MAX_ATTEMPTS, f"{retries} install attempts in {BACKOFF_WINDOW_SECONDS:g} s on a full disk"


def test_read_only_keeps_file_then_recovers(on_tmpfs, primary_dir, status_recorder):
    supervisor, conf = on_tmpfs
    old_conf = conf.read(CONF_NAME)
    old_inode = conf.inode(CONF_NAME)
    old_kubeconfig = conf.read(KUBECONFIG_NAME)
    conf.remount("ro")
    assert conf.read_only()
    statuses_before = len(status_recorder.statuses())

    offset = len(supervisor.log())
    atomic_write(primary_dir / PRIMARY_NAME, primary_config(1401))
    assert wait_log_after(supervisor, INSTALL_FAILED, offset), supervisor.log()
    cause_failing_render(supervisor, lambda: atomic_write(primary_dir / PRIMARY_NAME, primary_config(1402)))
    cause_failing_render(supervisor, lambda: atomic_write(primary_dir / PRIMARY_NAME, primary_config(1403)))

    failure_lines = [line for line in supervisor.log().splitlines() if INSTALL_FAILED in line]
    assert len(failure_lines) == 1, failure_lines
    assert f"cannot write {conf.host_path / CONF_NAME}: {EROFS_TEXT}" in failure_lines[0]
    assert conf.read(CONF_NAME) == old_conf
    assert conf.inode(CONF_NAME) == old_inode
    assert conf.read(KUBECONFIG_NAME) == old_kubeconfig
    assert conf.temporaries() == []
    assert wait_until(lambda: EROFS_TEXT in status_recorder.current()), status_recorder.statuses()
    assert f"cannot write {conf.host_path / CONF_NAME}" in status_recorder.current()
    assert any("install failed" in status for status in status_recorder.statuses()[statuses_before:])
    assert supervisor.running()

    # A remount causes no inotify event, so only the retry timer can notice it.
    conf.remount("rw")
    assert not conf.read_only()
    assert wait_until(lambda: delegate_mtu(conf.read(CONF_NAME)) == 1403, RETRY_WAIT_SECONDS), supervisor.log()
    assert supervisor.wait_log(INSTALL_RECOVERED), supervisor.log()
    assert wait_until(lambda: "cannot write" not in status_recorder.current()), status_recorder.statuses()
    assert conf.temporaries() == []
    assert conf.read(KUBECONFIG_NAME) == old_kubeconfig
    assert log_count(supervisor, INSTALL_FAILED) == 1
    assert supervisor.running()
