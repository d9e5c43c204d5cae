"""A real systemd 252 booted as PID 1 of new namespaces, for testing the unit file.

The container's root is an overlay of the host's root file system whose upper
layer is a tmpfs. It has private /run, /tmp and /dev, and a new network
namespace with only a loopback interface. Its cgroup namespace is rooted at a
cgroup that the harness creates and removes. ``tests/systemd/container-init`` does the
mounts and starts systemd with the boot target ``multus-config-test.target``.
Commands run inside through ``nsenter``, which needs no D-Bus: ``systemctl``
talks to PID 1 over ``/run/systemd/private``.
"""

from __future__ import annotations

import itertools
import json
import os
import shlex
import sys
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from plugins.testing import wait_until  # noqa: F401 - also imported from here by the tests

INIT_SCRIPT = Path(__file__).with_name("container-init")
REPOSITORY = Path(__file__).resolve().parents[2]


def runtime_paths() -> set[Path]:
    """Return the directories the supervisor needs to run from this test environment."""
    return {REPOSITORY, Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()}
SYSTEMD = Path("/lib/systemd/systemd")
#: Commands the harness runs on the host, besides the systemd binary.
HOST_COMMANDS = ("script", "unshare", "nsenter", "setpriv", "mount", "pivot_root")
#: Upper bound in seconds for boot, shutdown and waiting on a unit. Tests do not
#: assert on elapsed time, so the bound only keeps a broken build from hanging the run.
WAIT_SECONDS = 30.0

BOOT_TARGET_NAME = "multus-config-test.target"
BOOT_TARGET = """\
[Unit]
Description=Minimal boot target for the multus-config systemd tests
Requires=sysinit.target
After=sysinit.target
Wants=sockets.target
After=sockets.target
AllowIsolate=yes
"""

_sequence = itertools.count()


class ContainerError(Exception):
    """The container could not boot, or a command inside it failed."""


def cgroup2_mount() -> Path | None:
    """Return the host's cgroup2 mount point, or None when there is none.

    A pure cgroup2 host mounts it at /sys/fs/cgroup, a hybrid one at
    /sys/fs/cgroup/unified.
    """
    with open("/proc/self/mountinfo", encoding="utf-8") as mountinfo:
        for line in mountinfo:
            before, _, after = line.partition(" - ")
            if after.split(" ", 1)[0] == "cgroup2":
                return Path(before.split()[4])
    return None


def missing_requirements() -> str | None:
    """Return why the container cannot boot on this host, or None when it can."""
    if os.geteuid() != 0:
        return "booting systemd in new namespaces needs root"
    if Path("/run/systemd/system").is_dir():
        # The test cgroup would be created inside a hierarchy that the host's
        # systemd owns and has not delegated.
        return "the host runs systemd; the harness needs a host whose PID 1 is not systemd"
    if not os.access(SYSTEMD, os.X_OK):
        return f"{SYSTEMD} not found (install the systemd package)"
    for command in HOST_COMMANDS:
        if shutil.which(command) is None:
            return f"{command} not found (install util-linux)"
    if cgroup2_mount() is None:
        return "the host has no cgroup2 mount"
    return None


@dataclass
class Seed:
    """Files copied into the container's root before boot, kept in a host directory."""

    root: Path

    def write(self, path: str, content: str | bytes, mode: int = 0o644) -> Path:
        """Write *content* to the absolute container *path* and return its host path."""
        target = self.host_path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        data = content.encode() if isinstance(content, str) else content
        target.write_bytes(data)
        os.chmod(target, mode)
        return target

    def symlink(self, path: str, target: str | Path) -> None:
        """Create the container *path* as a symbolic link to *target*."""
        link = self.host_path(path)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(target)

    def remove(self, path: str) -> None:
        self.host_path(path).unlink()

    def keep_loaded(self, unit: str) -> None:
        """Keep *unit* loaded after it stops, so that ``systemctl show`` still reports its result.

        systemd unloads an inactive unit that no other loaded unit references.
        An ordering dependency of the boot target is such a reference, and it
        starts nothing.
        """
        self.write(f"/etc/systemd/system/{BOOT_TARGET_NAME}.d/keep-{unit}.conf", f"[Unit]\nAfter={unit}\n")

    def host_path(self, path: str) -> Path:
        return self.root / path.lstrip("/")


class SystemdContainer:
    """One booted systemd; call :meth:`shutdown` to stop it and remove its cgroup."""

    def __init__(self, state: Path) -> None:
        self.state = state
        self.seed = Seed(state / "seed")
        self.seed.root.mkdir(parents=True, exist_ok=True)
        self.seed.write(f"/etc/systemd/system/{BOOT_TARGET_NAME}", BOOT_TARGET)
        self.console_log = state / "console.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.pid1: int | None = None
        self.cgroup: Path | None = None

    # -- boot and shutdown ------------------------------------------------------------

    def boot(self) -> None:
        """Start systemd and return when it reports the boot finished.

        :raises ContainerError: when systemd does not come up, with the end of
            the console log.
        """
        mount_point = cgroup2_mount()
        if mount_point is None:
            raise ContainerError("the host has no cgroup2 mount")
        self.cgroup = mount_point / f"multus-config-test-{os.getpid()}-{next(_sequence)}"
        self.cgroup.mkdir()
        command = shlex.join(
            [
                "unshare", "--pid", "--fork", "--kill-child", "--mount", "--uts", "--ipc", "--net",
                "/bin/bash", str(INIT_SCRIPT), "enter", str(self.state), str(self.cgroup),
            ]
        )
        with open(self.state / "script.log", "wb") as script_log:
            visible = ":".join(str(path) for path in runtime_paths())
            self.process = subprocess.Popen(
                ["script", "--quiet", "--flush", "--return", "--command", f"exec {command}", str(self.console_log)],
                env={**os.environ, "VISIBLE_PATHS": visible},
                stdin=subprocess.DEVNULL,
                stdout=script_log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        pid_file = self.state / "pid1"
        if not wait_until(lambda: pid_file.exists() or self.process.poll() is not None):
            raise ContainerError(f"container-init did not start\n{self.console_tail()}")
        if not pid_file.exists():
            raise ContainerError(f"container-init failed\n{self.console_tail()}")
        self.pid1 = int(pid_file.read_text())
        private_bus = Path(f"/proc/{self.pid1}/root/run/systemd/private")
        if not wait_until(lambda: private_bus.is_socket() or self.process.poll() is not None):
            raise ContainerError(f"systemd did not open {private_bus}\n{self.console_tail()}")
        if self.process.poll() is not None:
            raise ContainerError(f"the container exited during boot\n{self.console_tail()}")
        state = self.run("systemctl", "is-system-running", "--wait", check=False, timeout=WAIT_SECONDS)
        if state.stdout.strip() != "running":
            failed = self.run("systemctl", "--failed", "--no-legend", check=False).stdout
            raise ContainerError(
                f"boot ended in state {state.stdout.strip()!r}, expected 'running'. Failed units:\n"
                f"{failed}\n{self.console_tail()}"
            )

    def shutdown(self) -> None:
        """Power the container off, or kill its PID 1 when that fails, then remove the cgroup."""
        if self.process is not None:
            if self.process.poll() is None and self.pid1 is not None:
                self.run("systemctl", "poweroff", "--no-block", check=False)
            try:
                self.process.wait(WAIT_SECONDS)
            except subprocess.TimeoutExpired:
                # Killing PID 1 of a PID namespace kills every process in it.
                if self.pid1 is not None:
                    os.kill(self.pid1, signal.SIGKILL)
                self.process.wait(WAIT_SECONDS)
            self.process = None
        if self.cgroup is not None:
            self._remove_cgroup()

    def _remove_cgroup(self) -> None:
        """Remove the test cgroup and every cgroup systemd created in it, deepest first."""
        assert self.cgroup is not None
        cgroup = self.cgroup

        def remove_tree() -> bool:
            for directory, _, _ in os.walk(cgroup, topdown=False):
                try:
                    os.rmdir(directory)
                except OSError:
                    return False
            return not cgroup.exists()

        # rmdir fails with EBUSY while a task is still attached, so a task that
        # is still exiting gets a moment to leave.
        if not wait_until(remove_tree, timeout=10):
            raise ContainerError(f"failed to remove the cgroup {cgroup}: a process is still in it")
        self.cgroup = None

    def console_tail(self, lines: int = 40) -> str:
        try:
            text = self.console_log.read_text(errors="replace")
        except FileNotFoundError:
            return "(no console log)"
        return "\n".join(text.splitlines()[-lines:])

    # -- commands inside ------------------------------------------------------------

    def run(
        self,
        *command: str,
        check: bool = True,
        timeout: float = WAIT_SECONDS,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run *command* in every namespace and the root of the container.

        :raises ContainerError: when *check* is set and the command fails.
        """
        assert self.pid1 is not None, "boot() first"
        environment = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "SYSTEMD_PAGER": "", **(env or {})}
        result = subprocess.run(
            ["nsenter", "--target", str(self.pid1), "--all", "--root", "--wd", *command],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=environment,
            check=False,
        )
        if check and result.returncode != 0:
            raise ContainerError(
                f"{shlex.join(command)} exited with status {result.returncode}\n"
                f"stdout: {result.stdout}\nstderr: {result.stderr}"
            )
        return result

    def systemctl(self, *args: str, check: bool = True, timeout: float = WAIT_SECONDS) -> subprocess.CompletedProcess[str]:
        return self.run("systemctl", "--no-pager", *args, check=check, timeout=timeout)

    def show(self, unit: str, *properties: str) -> dict[str, str]:
        """Return the named properties of *unit*, as ``systemctl show`` prints them."""
        output = self.systemctl("show", unit, "--property=" + ",".join(properties)).stdout
        values = {}
        for line in output.splitlines():
            name, _, value = line.partition("=")
            values[name] = value
        return values

    def journal(self, unit: str) -> list[dict[str, object]]:
        """Return the journal entries of *unit* as ``journalctl -o json`` objects."""
        output = self.run("journalctl", "--unit", unit, "--output=json", "--no-pager").stdout
        return [json.loads(line) for line in output.splitlines() if line.strip()]

    # -- files inside ---------------------------------------------------------------

    def path(self, path: str) -> Path:
        """Return the host path of the absolute container *path*, through PID 1's root."""
        assert self.pid1 is not None, "boot() first"
        return Path(f"/proc/{self.pid1}/root") / path.lstrip("/")

    def write_atomic(self, path: str, content: str | bytes, mode: int = 0o644) -> None:
        """Replace the container *path* with a rename, as a careful writer does."""
        target = self.path(path)
        temporary = target.parent.parent / f".{target.name}.test-writer"
        temporary.write_bytes(content.encode() if isinstance(content, str) else content)
        os.chmod(temporary, mode)
        os.rename(temporary, target)


def unit_messages(entries: Iterable[Mapping[str, object]]) -> list[str]:
    """Return the MESSAGE of each journal entry, in order, as text."""
    messages = []
    for entry in entries:
        message = entry.get("MESSAGE")
        if isinstance(message, list):
            # journalctl prints a message that is not valid UTF-8 as a byte list.
            message = bytes(message).decode(errors="replace")
        messages.append(str(message))
    return messages
