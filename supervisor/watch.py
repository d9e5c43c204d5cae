"""inotify watches on directories, re-armed when a directory is lost.

Only events that change a directory entry or a file's content or metadata
are requested, so the supervisor's own reads never wake it up.
"""

from __future__ import annotations

import logging
from pathlib import Path

from inotify_simple import INotify
from inotify_simple import flags as inotify_flags

from supervisor.install import TEMP_SUFFIX

log = logging.getLogger(__name__)

#: Events in a watched input or output directory.
DIRECTORY_EVENTS = (
    inotify_flags.CREATE
    | inotify_flags.DELETE
    | inotify_flags.MODIFY
    | inotify_flags.CLOSE_WRITE
    | inotify_flags.MOVED_FROM
    | inotify_flags.MOVED_TO
    | inotify_flags.ATTRIB
    | inotify_flags.DELETE_SELF
    | inotify_flags.MOVE_SELF
    | inotify_flags.ONLYDIR
)
#: Events in the nearest existing parent of a directory that does not exist yet.
PARENT_EVENTS = (
    inotify_flags.CREATE
    | inotify_flags.MOVED_TO
    | inotify_flags.DELETE_SELF
    | inotify_flags.MOVE_SELF
    | inotify_flags.ONLYDIR
)
_LOST = inotify_flags.IGNORED | inotify_flags.DELETE_SELF | inotify_flags.MOVE_SELF
_OVERFLOW = inotify_flags.Q_OVERFLOW


class DirectoryWatcher:
    """Watches a set of directories through one inotify descriptor."""

    def __init__(self) -> None:
        self._inotify = INotify(nonblocking=True)
        self._wanted: tuple[Path, ...] = ()
        self._parents: set[int] = set()
        self._descriptors: dict[int, Path] = {}

    def fileno(self) -> int:
        """Return the inotify descriptor, for ``selectors``."""
        return self._inotify.fileno()

    def close(self) -> None:
        """Release the inotify descriptor."""
        self._inotify.close()

    def watch(self, directories: list[Path]) -> None:
        """Watch exactly *directories*; a no-op when the set is unchanged."""
        wanted = tuple(sorted(set(directories)))
        if wanted != self._wanted:
            self._wanted = wanted
            self.rearm()

    def rearm(self) -> None:
        """Bring the watches in line with the wanted directories.

        Watches that are still wanted keep their descriptor, so events already
        queued for them are not lost. A directory that does not exist is
        replaced by a watch on its nearest existing parent.
        """
        masks: dict[Path, int] = {}
        parents: set[Path] = set()
        for directory in self._wanted:
            target = directory
            while not target.is_dir() and target.parent != target:
                target = target.parent
            if target != directory:
                parents.add(target)
                log.info("Directory %s does not exist yet; watching %s for it", directory, target)
                masks[target] = masks.get(target, 0) | PARENT_EVENTS
            else:
                masks[target] = masks.get(target, 0) | DIRECTORY_EVENTS
        descriptors: dict[int, Path] = {}
        for target, mask in masks.items():
            try:
                descriptor = self._inotify.add_watch(target, mask)
            except OSError as error:
                log.error("Cannot watch %s: %s", target, error.strerror or error)
                continue
            descriptors[descriptor] = target
        for descriptor in set(self._descriptors) - set(descriptors):
            try:
                self._inotify.rm_watch(descriptor)
            except OSError:
                # The kernel already dropped the watch of a deleted directory.
                pass
        self._descriptors = descriptors
        self._parents = {wd for wd, target in descriptors.items() if target in parents}

    def read_changes(self) -> bool:
        """Consume pending events; return whether any input may have changed.

        Re-arms the watches when a directory was removed or renamed, when a
        missing directory may have appeared, or when the kernel queue
        overflowed.
        """
        events = self._inotify.read(timeout=0)
        changed = False
        rearm = False
        for event in events:
            if event.mask & _OVERFLOW:
                changed = rearm = True
            elif event.wd not in self._descriptors:
                # Left over from a watch removed by an earlier re-arm.
                continue
            elif event.name.endswith(TEMP_SUFFIX):
                # The supervisor's own temporary files: reacting to them would
                # turn a failing install into a busy loop.
                continue
            else:
                changed = True
                if event.mask & _LOST or event.wd in self._parents:
                    rearm = True
        if rearm:
            log.debug("Re-arming directory watches")
            self.rearm()
        return changed
