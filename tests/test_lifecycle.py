"""End-to-end lifecycle of the supervisor on a temporary node."""

from __future__ import annotations

import json
import signal

from tests.support import DATA, atomic_write, wait_until

CALICO = (DATA / "calico.conflist").read_text()


def test_installs_then_repairs_external_edit(node, start_supervisor):
    (node.conf / "10-calico.conflist").write_text(CALICO)
    supervisor = start_supervisor(*node.flags())
    assert wait_until(node.multus_conf.exists)
    good = node.multus_conf.read_bytes()

    node.multus_conf.write_text("{}")
    assert wait_until(lambda: node.multus_conf.read_bytes() == good)
    assert supervisor.stop() == 0


def test_master_change_rewrites_config(node, start_supervisor):
    (node.conf / "10-calico.conflist").write_text(CALICO)
    supervisor = start_supervisor(*node.flags())
    assert wait_until(node.multus_conf.exists)

    atomic_write(node.conf / "10-calico.conflist", CALICO.replace('"mtu": 0', '"mtu": 1400'))

    def mtu() -> int:
        return json.loads(node.multus_conf.read_text())["delegates"][0]["plugins"][0]["mtu"]

    assert wait_until(lambda: mtu() == 1400)
    assert supervisor.stop(signal.SIGINT) == 0
