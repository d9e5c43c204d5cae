"""An idle supervisor does not touch its inputs or outputs, not even to read them."""

from __future__ import annotations

import time

from inotify_simple import INotify, flags, masks

from tests.support import DATA, WAIT_SECONDS

CALICO = (DATA / "calico.conflist").read_text()
IDLE_SECONDS = 5.0
#: Seconds without events after which start-up activity counts as finished.
QUIET_SECONDS = 0.5


def describe_events(watched: dict[int, str], events: list) -> list[str]:
    """Return one line per event: the directory, the entry name and the event flags."""
    lines = []
    for event in events:
        names = " | ".join(flag.name for flag in flags.from_mask(event.mask))
        lines.append(f"{watched.get(event.wd, event.wd)}/{event.name}: {names}")
    return lines


def wait_quiet(inotify: INotify) -> None:
    """Discard events until none arrives for QUIET_SECONDS, or WAIT_SECONDS pass."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if not inotify.read(timeout=int(QUIET_SECONDS * 1000)):
            return


def test_idle_no_file_access(node, start_supervisor):
    (node.conf / "10-calico.conflist").write_text(CALICO)
    supervisor = start_supervisor(*node.flags())
    assert supervisor.wait_log("-> steady"), supervisor.log()
    assert node.kubeconfig.exists()

    inotify = INotify()
    watched: dict[int, str] = {}
    try:
        for directory in (node.conf, node.kubeconfig.parent, node.sa):
            watched[inotify.add_watch(directory, masks.ALL_EVENTS)] = str(directory)
        # Right after the first install the supervisor may still list a new
        # output directory or render once more for the events of its own writes.
        wait_quiet(inotify)

        events = inotify.read(timeout=int(IDLE_SECONDS * 1000), read_delay=int(IDLE_SECONDS * 1000))
        assert events == [], describe_events(watched, events)
    finally:
        inotify.close()
    assert supervisor.running()
    assert supervisor.stop() == 0
