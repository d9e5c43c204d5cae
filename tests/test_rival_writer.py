"""A rival writer that keeps changing an owned file is repaired with backoff."""

from __future__ import annotations

import os
import threading
import time

from tests.support import DATA, wait_until

CALICO = (DATA / "calico.conflist").read_text()


def rewrite_repeatedly(path, stop: threading.Event, content: bytes) -> int:
    count = 0
    while not stop.is_set():
        temporary = path.with_name(".rival-tmp")
        temporary.write_bytes(content)
        os.rename(temporary, path)
        count += 1
        stop.wait(0.1)
    return count


def test_rival_rewrites_throttled(node, start_supervisor):
    (node.conf / "10-calico.conflist").write_text(CALICO)
    supervisor = start_supervisor(*node.flags())
    assert wait_until(node.multus_conf.exists)
    good = node.multus_conf.read_bytes()

    stop = threading.Event()
    rival = threading.Thread(target=rewrite_repeatedly, args=(node.multus_conf, stop, b'{"rival": true}'))
    rival.start()
    try:
        assert supervisor.wait_log("Another writer keeps changing")
        time.sleep(3)
    finally:
        stop.set()
        rival.join()

    log = supervisor.log()
    assert log.count("Another writer keeps changing") == 1
    assert str(node.multus_conf) in log
    repairs = log.count(f"Installed multus config {node.multus_conf} (content differs")
    # Without backoff the rival's 30 or more rewrites would each be repaired.
    assert repairs < 15
    assert wait_until(lambda: node.multus_conf.read_bytes() == good, timeout=90)
    assert supervisor.stop() == 0


def test_foreign_file_untouched(node, start_supervisor):
    (node.conf / "10-calico.conflist").write_text(CALICO)
    foreign = node.conf / "99-foreign.conf.bak"
    foreign.write_text("foreign")
    os.chmod(foreign, 0o640)
    supervisor = start_supervisor(*node.flags(), "--cleanup-config-on-exit")
    assert wait_until(node.multus_conf.exists)
    before = os.stat(foreign)
    assert supervisor.stop() == 0
    after = os.stat(foreign)
    assert (after.st_ino, after.st_mtime_ns, after.st_mode) == (before.st_ino, before.st_mtime_ns, before.st_mode)
