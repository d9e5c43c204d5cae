"""multus-config as PID 1 of its own PID namespace, as in a container without an init.

The kernel delivers no signal to a namespace's init unless the init has a
handler for it, except SIGKILL and SIGSTOP from an ancestor namespace. A
supervisor that relied on the default action of SIGTERM would therefore
ignore ``kubectl delete pod`` until the kubelet sent SIGKILL.

Each test starts ``unshare --pid --fork --mount-proc`` with the installed
``multus-config`` entrypoint on a temporary node, signals the supervisor from
outside the namespace and checks the exit status, the files, and that no
process is left behind.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import DATA, KUBERNETES_ENV, WAIT_SECONDS, Node, wait_until

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None,
    reason="needs root and unshare from util-linux to create a PID namespace",
)

CALICO = (DATA / "calico.conflist").read_text()


def entrypoint() -> Path:
    """Return the ``multus-config`` console script of the interpreter running the tests."""
    path = Path(sys.executable).parent / "multus-config"
    assert path.is_file(), (
        f"{path} not found: install the project into this environment"
    )
    return path


def child_pids(pid: int) -> list[int]:
    """Return the PIDs of the children of process *pid*, read from /proc."""
    children = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children.extend(int(child) for child in (task / "children").read_text().split())
    return children


def namespace_pids(pid: int) -> list[str]:
    """Return the PIDs of *pid* in each of its PID namespaces, outermost first (the NSpid line)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("NSpid:"):
            return line.split()[1:]
    raise AssertionError(f"/proc/{pid}/status has no NSpid line")


def processes_in_namespace(namespace: str) -> list[int]:
    """Return the PIDs, as seen from here, of every process in the PID namespace *namespace*."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.readlink(entry / "ns" / "pid") == namespace:
                found.append(int(entry.name))
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return found


def zombie_children() -> list[int]:
    """Return the children of the test process that have exited but were not reaped."""
    zombies = []
    for child in child_pids(os.getpid()):
        try:
            stat = Path(f"/proc/{child}/stat").read_text()
        except FileNotFoundError:
            continue
        # The state follows the command name, which is in parentheses and may contain spaces.
        if stat.rpartition(")")[2].split()[0] == "Z":
            zombies.append(child)
    return zombies


def command_line(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    except FileNotFoundError:
        return []


@pytest.mark.parametrize(
    ("signum", "cleanup"),
    [(signal.SIGTERM, True), (signal.SIGTERM, False), (signal.SIGINT, True)],
    ids=["sigterm-cleanup", "sigterm-keep", "sigint-cleanup"],
)
def test_pid1_stops_on_signal(tmp_path, signum, cleanup):
    node = Node.create(tmp_path / "node")
    primary = node.conf / "10-calico.conflist"
    primary.write_text(CALICO)
    flags = node.flags(
        f"--state-file={tmp_path / 'status.json'}",
        f"--cleanup-config-on-exit={str(cleanup).lower()}",
    )
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "JOURNAL_STREAM")
    }
    environment.update(KUBERNETES_ENV)
    log_path = tmp_path / "supervisor.log"

    with open(log_path, "wb") as log_file:
        unshare = subprocess.Popen(
            ["unshare", "--pid", "--fork", "--mount-proc", str(entrypoint()), *flags],
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=environment,
        )
    supervisor_pid: int | None = None
    namespace_fd: int | None = None
    try:
        # unshare forks once, and the child execs the entrypoint as PID 1 of the new namespace.
        assert wait_until(lambda: child_pids(unshare.pid) != []), log_path.read_text()
        [supervisor_pid] = child_pids(unshare.pid)
        assert wait_until(lambda: str(entrypoint()) in command_line(supervisor_pid)), (
            log_path.read_text()
        )
        assert namespace_pids(supervisor_pid)[-1] == "1"

        # An open descriptor keeps the namespace, and so its inode number, from being reused.
        namespace = os.readlink(f"/proc/{supervisor_pid}/ns/pid")
        namespace_fd = os.open(f"/proc/{supervisor_pid}/ns/pid", os.O_RDONLY)
        assert namespace != os.readlink("/proc/self/ns/pid")

        assert wait_until(node.multus_conf.exists), log_path.read_text()
        assert wait_until(node.kubeconfig.exists), log_path.read_text()
        # The supervisor spawns no children, so it is alone in its namespace.
        assert processes_in_namespace(namespace) == [supervisor_pid]

        os.kill(supervisor_pid, signum)
        # unshare exits with the status of its child, so 0 is the supervisor's own.
        assert unshare.wait(WAIT_SECONDS) == 0, log_path.read_text()
        assert processes_in_namespace(namespace) == []
    finally:
        if unshare.poll() is None:
            # SIGKILL reaches a namespace's init from outside, and its exit ends the namespace.
            if supervisor_pid is not None:
                os.kill(supervisor_pid, signal.SIGKILL)
            else:
                unshare.kill()
            unshare.wait(WAIT_SECONDS)
        if namespace_fd is not None:
            os.close(namespace_fd)

    assert unshare.pid not in child_pids(os.getpid())
    assert zombie_children() == []

    log = log_path.read_text()
    assert "Stopped" in log
    assert primary.exists()
    if cleanup:
        assert not node.multus_conf.exists()
        assert not node.kubeconfig.exists()
    else:
        assert node.multus_conf.exists()
        assert node.kubeconfig.exists()
