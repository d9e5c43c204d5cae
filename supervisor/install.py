"""Compare desired files with disk and install them atomically.

Install protocol: create a temporary file in the target directory with
``O_CREAT | O_EXCL | O_NOFOLLOW``, named with a leading dot and a suffix that
no container runtime loads. Then set its mode, write, ``fsync``, rename it
over the target and ``fsync`` the directory. A reader therefore sees the old file or
the new one, never a partial one, and a crash leaves at most a temporary
file, which :func:`remove_stale_temporaries` deletes at the next start.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from supervisor.digest import sha256, sha256_hex
from supervisor.files import DesiredFile

log = logging.getLogger(__name__)

#: Suffix of temporary files; CNI runtimes load only .conf, .conflist and .json.
TEMP_SUFFIX = ".multus-config-tmp"
#: Largest installed file read back for comparison.
MAX_COMPARE_BYTES = 256 * 1024 * 1024
#: Mode of directories the supervisor creates.
DIRECTORY_MODE = 0o755

#: A file changed less than this long ago is read again on every comparison,
#: because the kernel updates file times from a coarse clock: a second
#: same-size write within one tick would leave the times unchanged.
TRUST_AFTER_NS = 100_000_000

#: Returns whether the bytes on disk already equal the desired file.
CompareFunction = Callable[[DesiredFile, bytes], bool]


@dataclass(frozen=True)
class DiskState:
    """The action an install needs for one desired file."""

    desired: DesiredFile
    #: Reason the file must be written, or ``None`` when disk is current.
    reason: str | None
    #: Stale files to remove, such as a sibling with the other extension.
    stale: tuple[Path, ...]
    #: Short hash of the content on disk, or ``None`` when there is none.
    current_hash: str | None

    @property
    def needs_action(self) -> bool:
        return self.reason is not None or bool(self.stale)


def read_regular_file(path: Path, limit: int) -> bytes:
    """Return the content of *path* without following a final symlink.

    :raises OSError: ``ELOOP`` for a symlink, ``EISDIR``/``EINVAL`` for
        anything but a regular file, ``EFBIG`` beyond *limit* bytes.
    """
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    fd = os.open(path, flags)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        if info.st_size > limit:
            raise OSError(errno.EFBIG, f"larger than {limit} bytes", str(path))
        chunks = []
        remaining = limit + 1
        while remaining > 0:
            chunk = os.read(fd, min(remaining, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        data = b"".join(chunks)
        if len(data) > limit:
            raise OSError(errno.EFBIG, f"larger than {limit} bytes", str(path))
        return data
    finally:
        os.close(fd)


def hash_regular_file(path: Path) -> str:
    """Return the SHA-256 hex digest of *path*, read in chunks, without following a symlink."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    fd = os.open(path, flags)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        digest = sha256()
        while chunk := os.read(fd, 1 << 20):
            digest.update(chunk)
        return digest.hexdigest()
    finally:
        os.close(fd)


class DiskComparer:
    """Decides per file whether disk already contains the desired content.

    A file verified equal is remembered by its inode, size and change times,
    so an unchanged file is not read again on the next render.
    """

    def __init__(self, compare: CompareFunction) -> None:
        self._compare = compare
        self._verified: dict[Path, tuple[tuple[int, ...], str]] = {}

    def forget(self) -> None:
        """Drop remembered results so the next comparison reads every file."""
        self._verified.clear()

    def state(self, desired: DesiredFile) -> DiskState:
        """Return what must happen to bring *desired* onto disk."""
        stale = tuple(path for path in desired.replaces if os.path.lexists(path))
        content_hash = desired.sha256

        # Cheap checks on the directory entry first: existence, type, mode.
        try:
            info = os.lstat(desired.path)
        except FileNotFoundError:
            return DiskState(desired, "missing", stale, None)
        except OSError as error:
            # For example a directory on the path replaced by a regular file.
            return DiskState(desired, f"unreadable ({error.strerror or error})", stale, None)
        if not stat.S_ISREG(info.st_mode):
            return DiskState(desired, "not a regular file", stale, None)
        signature = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
        if stat.S_IMODE(info.st_mode) != desired.mode:
            mode = f"mode {stat.S_IMODE(info.st_mode):04o}, expected {desired.mode:04o}"
            return DiskState(desired, mode, stale, None)
        if self._verified.get(desired.path) == (signature, content_hash):
            return DiskState(desired, None, stale, content_hash[:12])

        # Then the content, through the comparator hook.
        try:
            if desired.source is not None:
                # Copied files are compared by digest, without the comparator
                # hook, so a large binary is never held in memory twice.
                current_digest = hash_regular_file(desired.path)
                equal = current_digest == content_hash
            else:
                current = read_regular_file(desired.path, MAX_COMPARE_BYTES)
                current_digest = sha256_hex(current)
                equal = self._compare(desired, current)
        except OSError as error:
            return DiskState(desired, f"unreadable ({error.strerror or error})", stale, None)
        current_hash = current_digest[:12]
        if not equal:
            return DiskState(desired, "content differs", stale, current_hash)
        self._trust(desired, info)
        return DiskState(desired, None, stale, current_hash)

    def remember(self, desired: DesiredFile) -> None:
        """Record a file just written so the next render may skip reading it."""
        try:
            self._trust(desired, os.lstat(desired.path))
        except OSError:
            return

    def _trust(self, desired: DesiredFile, info: os.stat_result) -> None:
        if time.time_ns() - info.st_ctime_ns < TRUST_AFTER_NS:
            self._verified.pop(desired.path, None)
            return
        signature = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
        self._verified[desired.path] = (signature, desired.sha256)


def ensure_directory(directory: Path) -> None:
    """Create *directory* and missing parents with mode 0755 whatever the umask."""
    missing = []
    current = directory
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for path in reversed(missing):
        try:
            os.mkdir(path, DIRECTORY_MODE)
        except FileExistsError:
            continue
        os.chmod(path, DIRECTORY_MODE)
        log.info("Created directory %s", path)


#: Files at least this large report their progress while being written.
PROGRESS_BYTES = 8 * 1024 * 1024


def write_atomic(
    path: Path,
    content: bytes,
    mode: int,
    root: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> None:
    """Replace *path* with *content* and *mode* so readers never see a partial file.

    Every step works relative to one open descriptor of the directory, so a
    directory swapped for a symlink halfway through cannot redirect the write.

    :param root: the configured directory the file belongs under. The write
        is rejected when the file's directory resolves outside it, for
        example through a planted symlink.
    :param progress: called with the bytes written so far and the total,
        every MiB, for files of at least ``PROGRESS_BYTES``.
    :raises OSError: when the directory cannot be written; the old file, if
        any, is then left as it was and no temporary file remains.
    """
    directory = path.parent
    ensure_directory(directory)
    dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        if root is not None:
            _check_inside(dir_fd, directory, root)
        temporary, fd = _create_temporary(dir_fd, path.name, mode)
        try:
            try:
                # The mode given to open() is reduced by the umask.
                os.fchmod(fd, mode)
                view = memoryview(content)
                report = progress if progress is not None and len(content) >= PROGRESS_BYTES else None
                while view:
                    written = os.write(fd, view[: 1 << 20])
                    view = view[written:]
                    if report is not None:
                        report(len(content) - len(view), len(content))
                os.fsync(fd)
            finally:
                os.close(fd)
            os.rename(temporary, path.name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except BaseException:
            try:
                os.unlink(temporary, dir_fd=dir_fd)
            except OSError:
                pass
            raise
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _check_inside(dir_fd: int, directory: Path, root: Path) -> None:
    resolved = os.readlink(f"/proc/self/fd/{dir_fd}")
    allowed = os.path.realpath(root)
    if resolved != allowed and not resolved.startswith(allowed.rstrip("/") + "/"):
        msg = f"{directory} resolves to {resolved}, outside {allowed}; not writing through it"
        raise OSError(errno.EPERM, msg)


def _create_temporary(dir_fd: int, name: str, mode: int) -> tuple[str, int]:
    """Create a new temporary file for *name*; never opens an existing name or a symlink."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    attempts_left = 8
    while True:
        temporary = f".{name}.{os.urandom(4).hex()}{TEMP_SUFFIX}"
        try:
            return temporary, os.open(temporary, flags, mode, dir_fd=dir_fd)
        except FileExistsError:
            # Another process created the name, possibly as a symlink, so take another.
            attempts_left -= 1
            if attempts_left == 0:
                raise


def remove_file(path: Path) -> bool:
    """Remove *path* if it exists; return whether something was removed."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    fsync_directory(path.parent)
    return True


def fsync_directory(directory: Path) -> None:
    """Flush a directory so a rename or removal in it survives a power loss."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_stale_temporaries(directories: list[Path]) -> list[Path]:
    """Delete temporary files a killed earlier run left in *directories*."""
    removed = []
    for directory in directories:
        try:
            names = os.listdir(directory)
        except OSError:
            continue
        for name in names:
            if name.startswith(".") and name.endswith(TEMP_SUFFIX):
                path = directory / name
                if _unlink_quietly(path):
                    removed.append(path)
    return removed


def _unlink_quietly(path: Path) -> bool:
    try:
        os.unlink(path)
    except OSError:
        return False
    return True
