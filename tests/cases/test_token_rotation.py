"""A rotated service-account token or CA rewrites the kubeconfig, and only the kubeconfig.

The token and CA are replaced the way a writer that renames into place does.
The refresh must happen whatever ``--multus-conf-file`` and
``--cleanup-config-on-exit`` are set to, must replace the kubeconfig atomically with
mode 0600, and must leave the CNI config byte-identical.
"""

from __future__ import annotations

import os
import shutil
import stat
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
    create_case_node,
    kubeconfig_value,
    read_or_none,
    wait_until,
)

LATER = CASES / "token-rotation"
TOKEN_A = "token-A-0000000000000000"
TOKEN_B = "token-B-1111111111111111"
CA_1_DATA = (
    "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tClRVbEpRMlpoYTJWVVpYTjBRMEV0TURBd01TMXViM1F0WVMxeVpXRnNMV05s"
    "Y25ScFptbGpZWFJsTFdadmNpMTBaWE4wY3kxdmJteDUKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo="
)
CA_2_DATA = (
    "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tClRVbEpRMlpoYTJWVVpYTjBRMEV0TURBd01pMXliM1JoZEdWa0xXNXZk"
    "QzFoTFhKbFlXd3RZMlZ5ZEdsbWFXTmhkR1V0ZEdWemRITT0KLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo="
)
INSTALLED_KUBECONFIG = "Installed kubeconfig"


def cni_config(node: Node, mode: str) -> Path:
    """Return the CNI config the supervisor installs in *mode*."""
    return node.conf / ("05-multus.conf" if mode == "explicit-conf" else "00-multus.conf")


def flags(node: Node, mode: str) -> list[str]:
    if mode == "explicit-conf":
        conf_file = f"--multus-conf-file={node.root / 'src' / '05-multus.conf'}"
    else:
        conf_file = "--multus-conf-file=auto"
    extra = ["--cleanup-config-on-exit=true"] if mode == "auto-cleanup" else []
    return node.flags(conf_file, "--skip-multus-binary-copy=true", *extra)


@pytest.fixture
def node(tmp_path: Path) -> Node:
    node = create_case_node(tmp_path / "node")
    shutil.copy(COMMON / "10-calico.conflist", node.conf)
    (node.root / "src").mkdir()
    shutil.copy(LATER / "05-multus.conf", node.root / "src")
    return node


def rename_into(directory: Path, name: str, content: bytes) -> None:
    """Write *content* to a hidden file in *directory*, then rename it over *name*."""
    temporary = directory / f".{name}.tmp"
    temporary.write_bytes(content)
    os.rename(temporary, directory / name)


def kubeconfig_field(node: Node, key: str) -> str | None:
    content = read_or_none(node.kubeconfig)
    return None if content is None else kubeconfig_value(content.decode(), key)


def kubeconfig_mode(node: Node) -> int:
    return stat.S_IMODE(node.kubeconfig.stat().st_mode)


@pytest.mark.parametrize("mode", ["auto", "explicit-conf", "auto-cleanup"])
def test_rotation_rewrites_only_kubeconfig(node, start_supervisor, mode):
    config = cni_config(node, mode)
    supervisor = start_supervisor(*flags(node, mode))
    assert supervisor.wait_log(STEADY_MARK)
    assert kubeconfig_field(node, "token") == TOKEN_A
    assert kubeconfig_field(node, "certificate-authority-data") == CA_1_DATA
    config_before = config.read_bytes()
    config_inode = config.stat().st_ino
    first = node.kubeconfig.read_bytes()
    inodes = [node.kubeconfig.stat().st_ino]
    installs = [supervisor.log().count(INSTALLED_KUBECONFIG)]

    with FilePoller([node.kubeconfig, config]) as poller:
        rename_into(node.sa, "token", (COMMON / "token-B").read_bytes())
        assert wait_until(lambda: kubeconfig_field(node, "token") == TOKEN_B)
        time.sleep(QUIET_SECONDS)
        inodes.append(node.kubeconfig.stat().st_ino)
        installs.append(supervisor.log().count(INSTALLED_KUBECONFIG))
        assert config.read_bytes() == config_before
        assert kubeconfig_mode(node) == 0o600

        rename_into(node.sa, "ca.crt", (LATER / "ca-2.crt").read_bytes())
        assert wait_until(lambda: kubeconfig_field(node, "certificate-authority-data") == CA_2_DATA)
        time.sleep(QUIET_SECONDS)
        inodes.append(node.kubeconfig.stat().st_ino)
        installs.append(supervisor.log().count(INSTALLED_KUBECONFIG))
    rotated_token = first.replace(TOKEN_A.encode(), TOKEN_B.encode())
    rotated_both = rotated_token.replace(CA_1_DATA.encode(), CA_2_DATA.encode())
    log = supervisor.log()

    assert supervisor.running()
    assert kubeconfig_field(node, "token") == TOKEN_B
    assert config.read_bytes() == config_before
    assert set(poller.seen(config)) == {config_before}
    assert config.stat().st_ino == config_inode
    assert kubeconfig_mode(node) == 0o600
    assert inodes[1] != inodes[0]
    assert inodes[2] != inodes[1]
    assert set(poller.seen(node.kubeconfig)) <= {first, rotated_token, rotated_both}
    assert installs[1] - installs[0] == 1
    assert installs[2] - installs[1] == 1
    assert TOKEN_A not in log
    assert TOKEN_B not in log


def test_token_trailing_newline_stripped(node, start_supervisor):
    supervisor = start_supervisor(*flags(node, "auto"))
    assert supervisor.wait_log(STEADY_MARK)

    rename_into(node.sa, "token", (COMMON / "token-B").read_bytes() + b"\n")

    assert wait_until(lambda: kubeconfig_field(node, "token") == TOKEN_B)
    assert f'token: "{TOKEN_B}"\n' in node.kubeconfig.read_text()
