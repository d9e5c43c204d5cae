"""Selection and checks of the primary CNI config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from plugins import master
from supervisor import WaitForInput

BRIDGE = {"cniVersion": "0.3.1", "name": "net", "type": "bridge"}


def write(directory: Path, name: str, document: object) -> Path:
    path = directory / name
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return path


def flags(directory: Path, *extra: str) -> list[str]:
    return [f"--cni-conf-dir={directory}", f"--multus-autoconfig-dir={directory}", *extra]


def test_first_by_byte_order(tmp_path, parse):
    write(tmp_path, "20-b.conf", BRIDGE)
    write(tmp_path, "10-a.conflist", {"cniVersion": "0.3.1", "name": "a", "plugins": [{"type": "ptp"}]})
    assert master.select_master(parse(*flags(tmp_path))).path.name == "10-a.conflist"


def test_ignores_own_and_other_extensions(tmp_path, parse):
    write(tmp_path, "00-multus.conf", BRIDGE)
    write(tmp_path, "01-x.json", BRIDGE)
    (tmp_path / "05-dir.conf").mkdir()
    write(tmp_path, "30-c.conf", BRIDGE)
    assert master.select_master(parse(*flags(tmp_path))).path.name == "30-c.conf"


def test_skips_invalid_candidate(tmp_path, parse):
    write(tmp_path, "05-broken.conf", '{"cniVersion": "0.3.1",')
    write(tmp_path, "10-good.conf", BRIDGE)
    assert master.select_master(parse(*flags(tmp_path))).path.name == "10-good.conf"


def test_multus_config_never_wrapped(tmp_path, parse):
    nested = {"cniVersion": "0.3.1", "name": "x", "plugins": [{"type": "tuning", "inner": [{"type": "multus-shim"}]}]}
    write(tmp_path, "05-renamed-multus.conflist", nested)
    with pytest.raises(WaitForInput, match="is a Multus config"):
        master.select_master(parse(*flags(tmp_path)))


def test_no_candidate_names_directory(tmp_path, parse):
    with pytest.raises(WaitForInput, match=f"no \\*.conf or \\*.conflist file in {tmp_path}"):
        master.select_master(parse(*flags(tmp_path)))


def test_pinned_absolute_not_doubled(tmp_path, parse):
    path = write(tmp_path, "20-b.conf", BRIDGE)
    write(tmp_path, "10-a.conf", BRIDGE)
    settings = parse(*flags(tmp_path, f"--multus-master-cni-file-name={path}"))
    assert master.select_master(settings).path == path


def test_pinned_missing_no_fallback(tmp_path, parse):
    write(tmp_path, "10-a.conf", BRIDGE)
    settings = parse(*flags(tmp_path, "--multus-master-cni-file-name=99-missing.conf"))
    with pytest.raises(WaitForInput, match="configured primary CNI config not found"):
        master.select_master(settings)


def test_renamed_primary_still_selected(tmp_path, parse):
    write(tmp_path, "10-a.conf.old", BRIDGE)
    settings = parse(*flags(tmp_path, "--rename-conf-file"))
    assert master.select_master(settings).path.name == "10-a.conf.old"


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"cniVersion": 1.0, "name": "n", "type": "bridge"}, "invalid field cniVersion"),
        ({"cniVersion": "0.3.1", "name": "n", "type": "bridge", "capabilities": {"ips": "true"}}, "invalid capabilities value for 'ips'"),
        ({"cniVersion": "0.3.1", "name": "n", "plugins": {}}, "invalid field plugins"),
        ({"cniVersion": "0.3.1", "name": "n", "plugins": [1]}, "invalid field plugins\\[0\\]"),
        ({"cniVersion": "0.3.1", "name": "n"}, "neither \"type\" nor \"plugins\""),
        ([1, 2], "must contain a JSON object, not an array"),
    ],
)
def test_wrong_types_rejected(tmp_path, document, message):
    path = write(tmp_path, "10-x.conf", document)
    with pytest.raises(WaitForInput, match=message):
        master.load_master(path, _settings())


def _settings():
    from argparse import Namespace

    return Namespace(override_network_name=False, cni_version="", force_cni_version=False)


def test_missing_cni_version_suggests_flag(tmp_path):
    path = write(tmp_path, "10-x.conf", {"name": "n", "type": "bridge"})
    with pytest.raises(WaitForInput, match="set --cni-version"):
        master.load_master(path, _settings())


def test_capabilities_later_plugin_wins(tmp_path):
    document = {
        "cniVersion": "0.4.0",
        "name": "n",
        "plugins": [{"type": "a", "capabilities": {"mac": True}}, {"type": "b", "capabilities": {"mac": False, "ips": True}}],
    }
    assert master.collect_capabilities(document, tmp_path) == {"mac": False, "ips": True}


@pytest.mark.parametrize(
    ("version", "expected"),
    [("1.0.0", True), ("1.1.0", True), ("0.4.0", False), ("1.0", True), ("garbage", False), ("", False), ("2", True)],
)
def test_version_threshold(version, expected):
    assert master.is_version_1_or_later(version) is expected


def test_readiness_host_path_mapped(tmp_path, parse):
    from plugins.multus_conf import readiness_paths

    settings = parse(
        *flags(tmp_path),
        "--multus-kubeconfig-file-host=/etc/cni/net.d/multus.d/multus.kubeconfig",
        "--readiness-indicator-file=/etc/cni/net.d/05-cilium.conflist",
    )
    assert readiness_paths(settings) == [Path("/etc/cni/net.d/05-cilium.conflist"), tmp_path / "05-cilium.conflist"]


def test_readiness_other_path_unmapped(tmp_path, parse):
    from plugins.multus_conf import readiness_paths

    settings = parse(*flags(tmp_path), "--readiness-indicator-file=/run/ready")
    assert readiness_paths(settings) == [Path("/run/ready")]
