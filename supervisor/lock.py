"""The single-instance lock: one supervisor per node configuration.

The lock is an ``flock`` on a file that contains the owner's PID. The kernel
releases an ``flock`` when the owner's descriptor closes, which happens on
any exit including SIGKILL, so a stale file never blocks a restart.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from supervisor.install import ensure_directory


class LockHeld(Exception):
    """Another running process holds the lock."""

    def __init__(self, path: Path, holder: str) -> None:
        who = f"process {holder}" if holder else "another process"
        super().__init__(
            f"{who} holds the lock file {path}, so another multus-config is running; "
            "stop it first, or give this instance its own --lock-file"
        )
        self.path = path
        self.holder = holder


class InstanceLock:
    """An exclusive lock kept for the life of the process."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock and record this process's PID in the file.

        :raises LockHeld: naming the holder's PID when the lock is taken.
        :raises OSError: when the lock file cannot be created.
        """
        ensure_directory(self.path.parent)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
            os.close(fd)
            raise LockHeld(self.path, holder) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def held_by_another(self) -> bool:
        """Return whether another process holds the lock now, without taking it.

        Works across PID namespaces as long as the lock file is shared, unlike
        a check of the PID recorded in the file.
        """
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False

    def release(self) -> None:
        """Release the lock; the file stays, so that no other process races on its removal."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
