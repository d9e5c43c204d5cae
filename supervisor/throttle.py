"""Back off from a rival writer instead of fighting it forever.

Another tool may keep rewriting, deleting or renaming a file the supervisor
owns. Each repair is allowed at once until a file needed ``BURST`` repairs
within ``WINDOW`` seconds. Then it is contested: repairs wait for a delay
that doubles up to ``MAX_DELAY``, and one warning names the file and the rate.
The episode ends, with an info message, once the file has needed no repair for
``CALM`` seconds.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

WINDOW = 10.0
BURST = 5
FIRST_DELAY = 1.0
MAX_DELAY = 60.0
CALM = 30.0


@dataclass
class _History:
    repairs: deque[float] = field(default_factory=deque)
    delay: float = 0.0
    not_before: float = 0.0
    contested_since: float | None = None


class RepairThrottle:
    """Decides per owned file whether a repair may happen now."""

    def __init__(self, clock: object = time.monotonic) -> None:
        self._clock = clock
        self._files: dict[Path, _History] = {}

    def _now(self) -> float:
        return self._clock()  # type: ignore[operator]

    def allow(self, path: Path) -> bool:
        """Return whether *path* may be repaired now."""
        history = self._files.get(path)
        return history is None or self._now() >= history.not_before

    def record_repair(self, path: Path) -> None:
        """Count a repair of *path* and start or extend a contested episode."""
        now = self._now()
        history = self._files.setdefault(path, _History())
        history.repairs.append(now)
        while history.repairs and history.repairs[0] < now - WINDOW:
            history.repairs.popleft()
        if len(history.repairs) < BURST and history.contested_since is None:
            return
        if history.contested_since is None:
            history.contested_since = now
            rate = len(history.repairs) / WINDOW
            log.warning(
                "Another writer keeps changing %s (%d repairs in %g s, %.1f per second); "
                "repairing it with increasing delays up to %g s instead of at once",
                path, len(history.repairs), WINDOW, rate, MAX_DELAY,
            )
        history.delay = min(max(history.delay * 2, FIRST_DELAY), MAX_DELAY)
        history.not_before = now + history.delay

    def record_current(self, path: Path) -> None:
        """Note that *path* was found current; ends an episode after a calm period."""
        history = self._files.get(path)
        if history is None or history.contested_since is None:
            return
        if history.repairs and self._now() - history.repairs[-1] >= CALM:
            log.info("%s has not been changed by another writer for %g s; repairing at once again", path, CALM)
            del self._files[path]

    def next_due(self) -> float | None:
        """Return the monotonic time of the earliest held-back repair, if any."""
        now = self._now()
        pending = [history.not_before for history in self._files.values() if history.not_before > now]
        return min(pending, default=None)
