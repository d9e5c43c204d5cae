"""The primary CNI config chosen at boot must follow the primary CNI, not whichever file came first.

At boot only ``10-kube-ovn.conflist`` (a secondary CNI) exists; the primary
CNI writes ``05-cilium.conflist`` later. With ``--readiness-indicator-file``
naming that file, nothing may be installed until it exists. Without the
indicator, the selection must be made again when a file that sorts earlier
appears, so the first choice does not stick.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from tests.support import (
    CASES,
    COMMON,
    QUIET_SECONDS,
    STEADY_MARK,
    FilePoller,
    Node,
    atomic_write,
    create_case_node,
    load_json_or_none,
    plugin_types,
    read_or_none,
    wait_until,
)

KUBE_OVN = CASES / "readiness-gate" / "10-kube-ovn.conflist"
CILIUM = COMMON / "05-cilium.conflist"


@pytest.fixture
def node(tmp_path: Path) -> Node:
    node = create_case_node(tmp_path / "node")
    shutil.copy(KUBE_OVN, node.conf)
    return node


def indicator(node: Node) -> Path:
    return node.conf / "05-cilium.conflist"


def flags(node: Node, gated: bool) -> list[str]:
    extra = [f"--readiness-indicator-file={indicator(node)}"] if gated else []
    return node.flags(
        "--multus-conf-file=auto",
        "--skip-multus-binary-copy=true",
        "--cleanup-config-on-exit=true",
        *extra,
    )


def delegate_name(node: Node) -> str | None:
    config = load_json_or_none(read_or_none(node.multus_conf))
    if not isinstance(config, dict):
        return None
    return config["delegates"][0]["name"]


def add_cilium(node: Node) -> None:
    """Add the primary CNI's config the way a CNI installer does: write elsewhere, rename in."""
    atomic_write(node.conf / "05-cilium.conflist", CILIUM.read_bytes())


def test_gate_holds_install_until_indicator(node, start_supervisor):
    waiting = f"waiting for readiness indicator file {indicator(node)}"

    with FilePoller([node.multus_conf, node.multus_conflist]) as poller:
        supervisor = start_supervisor(*flags(node, gated=True))
        assert supervisor.wait_log(waiting)
        time.sleep(QUIET_SECONDS)

    assert supervisor.running()
    assert [content for content in poller.seen(node.multus_conf) if content is not None] == []
    assert [content for content in poller.seen(node.multus_conflist) if content is not None] == []


def test_gate_opens_with_cilium(node, start_supervisor):
    with FilePoller([node.multus_conf, node.multus_conflist]) as poller:
        supervisor = start_supervisor(*flags(node, gated=True))
        assert supervisor.wait_log(f"waiting for readiness indicator file {indicator(node)}")

        add_cilium(node)
        assert wait_until(lambda: delegate_name(node) == "cilium")
    config = json.loads(node.multus_conf.read_bytes())
    delegated_types = [plugin_types(load_json_or_none(seen.content)) for seen in poller.observations]

    assert config["readinessindicatorfile"] == str(indicator(node))
    assert [types for types in delegated_types if "kube-ovn" in types] == []


def test_earlier_file_replaces_first_choice(node, start_supervisor):
    supervisor = start_supervisor(*flags(node, gated=False))
    assert supervisor.wait_log(STEADY_MARK)

    add_cilium(node)

    assert wait_until(lambda: delegate_name(node) == "cilium")


@pytest.mark.parametrize("gated", [True, False], ids=["gated", "ungated"])
def test_stop_removes_config_keeps_inputs(node, start_supervisor, gated):
    supervisor = start_supervisor(*flags(node, gated))
    add_cilium(node)
    inputs = {}
    for path in (node.conf / "10-kube-ovn.conflist", indicator(node)):
        inputs[path] = (path.read_bytes(), path.stat().st_ino)
    assert wait_until(lambda: delegate_name(node) == "cilium")

    assert supervisor.stop() == 0

    assert not node.multus_conf.exists()
    for path, identity in inputs.items():
        assert (path.read_bytes(), path.stat().st_ino) == identity, path.name
