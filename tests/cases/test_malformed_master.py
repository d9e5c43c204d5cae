"""A malformed primary CNI config gives a clear error, never a crash, and keeps the installed files.

Like the container runtime, the supervisor skips a candidate that is not a
loadable config and logs a warning naming it, then takes the next one. A
primary config that breaks while the supervisor runs leaves the last good
``00-multus.conf`` in place, even with ``--cleanup-config-on-exit``, and the
error is logged once. Wrong field types (a numeric cniVersion, a capability
given as a string) are errors naming the file and the field, and nothing is
written.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from tests.support import (
    CASES,
    COMMON,
    QUIET_SECONDS,
    STEADY_MARK,
    Node,
    SupervisorProcess,
    atomic_write,
    create_case_node,
    directory_tree,
    first_log_line,
    load_json_or_none,
    read_or_none,
    wait_until,
)

CASE = CASES / "malformed-master"
CALICO = COMMON / "10-calico.conflist"
#: A .conf with a trailing comma, which sorts before the valid calico config.
BROKEN = CASE / "05-broken.conf"
#: The first half of the calico config, as a writer that is cut off leaves it.
CALICO_PARTIAL = CASE / "10-calico.conflist.partial"
CALICO_MTU_1400 = CASE / "10-calico.conflist.v2"
NUMBER_CNI_VERSION = CASE / "number-cni-version" / "10-calico.conflist"
STRING_CAPABILITY = CASE / "string-capability" / "10-calico.conflist"
#: Number of extra touches of the broken file, each of which makes the supervisor render again.
TOUCHES = 5
#: Interval between two reads of 00-multus.conf while the primary config is broken.
SAMPLE_INTERVAL = 0.1


def start_with_cleanup(node: Node, start_supervisor) -> SupervisorProcess:
    return start_supervisor(*node.flags("--multus-conf-file=auto", "--cleanup-config-on-exit=true"))


def delegate_mtu(node: Node) -> object:
    config = load_json_or_none(node.multus_conf.read_bytes())
    if not isinstance(config, dict):
        return None
    return config["delegates"][0]["plugins"][0].get("mtu")


def error_lines(supervisor: SupervisorProcess) -> list[str]:
    return [line for line in supervisor.log().splitlines() if "invalid JSON" in line]


def test_invalid_json_candidate_skipped(tmp_path, start_supervisor):
    node = create_case_node(tmp_path / "node")
    shutil.copy(BROKEN, node.conf)
    shutil.copy(CALICO, node.conf)

    supervisor = start_with_cleanup(node, start_supervisor)
    assert supervisor.wait_log(STEADY_MARK), supervisor.log()
    config = json.loads(node.multus_conf.read_bytes())
    warning = first_log_line(supervisor, BROKEN.name)

    assert config["delegates"][0]["name"] == "k8s-pod-network"
    assert config["delegates"][0] == json.loads(CALICO.read_bytes())
    assert warning is not None, supervisor.log()
    assert "invalid JSON" in warning
    assert (node.conf / BROKEN.name).read_bytes() == BROKEN.read_bytes()
    assert not (node.conf / (BROKEN.name + ".old")).exists()
    assert supervisor.running()
    assert "Traceback" not in supervisor.log()


def test_master_broken_while_running(tmp_path, start_supervisor):
    node = create_case_node(tmp_path / "node")
    master = node.conf / CALICO.name
    shutil.copy(CALICO, master)
    supervisor = start_with_cleanup(node, start_supervisor)
    assert supervisor.wait_log(STEADY_MARK), supervisor.log()
    good = node.multus_conf.read_bytes()

    # Overwritten in place, as a writer without a temporary file does it.
    master.write_bytes(CALICO_PARTIAL.read_bytes())
    assert supervisor.wait_log("invalid JSON"), supervisor.log()
    time.sleep(SAMPLE_INTERVAL)
    first_errors = error_lines(supervisor)
    samples = []
    for _ in range(TOUCHES):
        os.utime(master)
        samples.append(read_or_none(node.multus_conf))
        time.sleep(SAMPLE_INTERVAL)
    deadline = time.monotonic() + QUIET_SECONDS
    while time.monotonic() < deadline:
        samples.append(read_or_none(node.multus_conf))
        time.sleep(SAMPLE_INTERVAL)

    assert [sample for sample in samples if sample != good] == []
    assert supervisor.running()
    assert master.name in first_errors[0]
    assert len(first_errors) == 1, first_errors
    assert error_lines(supervisor) == first_errors
    assert "Traceback" not in supervisor.log()

    atomic_write(master, CALICO_MTU_1400.read_bytes())

    assert wait_until(lambda: delegate_mtu(node) == 1400), supervisor.log()
    assert supervisor.running()
    assert supervisor.stop() == 0


@pytest.mark.parametrize(
    ("master", "phrases"),
    [
        (NUMBER_CNI_VERSION, ["invalid field cniVersion", "expected string"]),
        (STRING_CAPABILITY, ["invalid capabilities value", "expected boolean", "portMappings"]),
    ],
    ids=["number-cniVersion", "string-capability"],
)
def test_wrong_field_type_rejected(tmp_path, start_supervisor, master: Path, phrases: list[str]):
    node = create_case_node(tmp_path / "node")
    shutil.copy(master, node.conf)
    before = directory_tree(node.conf)

    supervisor = start_with_cleanup(node, start_supervisor)
    assert supervisor.wait_log(phrases[0]), supervisor.log()
    error = first_log_line(supervisor, phrases[0])
    time.sleep(QUIET_SECONDS)

    for phrase in phrases[1:]:
        assert phrase in error
    assert master.name in error
    assert not node.multus_conf.exists()
    assert not node.multus_conflist.exists()
    assert directory_tree(node.conf) == before
    assert (node.conf / master.name).read_bytes() == master.read_bytes()
    assert supervisor.running()
    assert "Traceback" not in supervisor.log()
