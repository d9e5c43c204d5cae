"""Each flag of the entrypoint becomes the key that the multus plugin reads.

``--multus-cni-conf-dir`` becomes "confDir" (the plugin reads "confDir" and
ignores "cniConf"), and an unset flag leaves its key out so that the plugin's
default applies, instead of writing a container-side ``/host/...`` path. The
log level is one of debug, verbose, error and panic in any case, written in
lower case.

All paths in the flags are host paths that the plugin reads on the node. The
supervisor does not see them: as in a DaemonSet that mounts the host's
``/etc/cni/net.d`` elsewhere, ``/etc/cni/net.d/10-calico.conflist`` does not
exist in its view, and the config must be written all the same.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support import (
    COMMON,
    STEADY_MARK,
    Node,
    create_case_node,
    directory_tree,
    first_log_line,
)

CALICO = COMMON / "10-calico.conflist"
LOG_LEVELS = ("debug", "verbose", "error", "panic")
CONF_DIR_FLAG = "--multus-cni-conf-dir=/etc/cni/multus/net.d"
LOG_LEVEL_FLAG = "--multus-log-level=verbose"
OTHER_FLAGS = (
    "--multus-log-file=/var/log/multus.log",
    "--multus-log-to-stderr=false",
    "--namespace-isolation=true",
    "--global-namespaces=default,kube-system",
    "--readiness-indicator-file=/etc/cni/net.d/10-calico.conflist",
    "--additional-bin-dir=/opt/multus/bin",
)
EXPECTED_KEYS = {
    "cniVersion": "0.3.1",
    "name": "multus-cni-network",
    "type": "multus",
    "capabilities": {"portMappings": True},
    "confDir": "/etc/cni/multus/net.d",
    "logLevel": "verbose",
    "logFile": "/var/log/multus.log",
    "logToStderr": False,
    "namespaceIsolation": True,
    "globalNamespaces": "default,kube-system",
    "readinessindicatorfile": "/etc/cni/net.d/10-calico.conflist",
    "binDir": "/opt/multus/bin",
    "kubeconfig": "/etc/cni/net.d/multus.d/multus.kubeconfig",
    "delegates": [json.loads(CALICO.read_bytes())],
}
#: Shell script that mounts a copy-on-write overlay on /etc, then runs the command
#: given after its two arguments (upper and work directory). The supervisor
#: creates the directory named by --multus-cni-conf-dir, and the overlay keeps
#: /etc/cni/multus/net.d out of the host's /etc.
PRIVATE_ETC_SCRIPT = 'mount -t overlay overlay -o "lowerdir=/etc,upperdir=$1,workdir=$2" /etc && shift 2 && exec "$@"'


@pytest.fixture
def node(tmp_path: Path) -> Node:
    node = create_case_node(tmp_path / "node")
    shutil.copy(CALICO, node.conf)
    return node


@pytest.fixture
def private_etc(tmp_path: Path) -> list[str]:
    """Return a command prefix that runs PRIVATE_ETC_SCRIPT in a private mount namespace.

    Skips the test where mount namespaces or overlayfs are unavailable.
    """
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("unshare(1) is not installed, so /etc cannot be kept private")
    namespace = [unshare, "--mount", "--propagation", "private"]
    if os.geteuid() != 0:
        namespace += ["--user", "--map-root-user"]
    upper = tmp_path / "etc-upper"
    work = tmp_path / "etc-work"
    upper.mkdir()
    work.mkdir()
    wrapper = [*namespace, "sh", "-c", PRIVATE_ETC_SCRIPT, "sh", str(upper), str(work)]
    probe = subprocess.run([*wrapper, "true"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"cannot mount a private /etc overlay: {probe.stderr.strip()}")
    return wrapper


def host_paths(value: object) -> list[str]:
    """Return every string in *value*, at any depth, that starts with ``/host/``."""
    if isinstance(value, str):
        return [value] if value.startswith("/host/") else []
    if isinstance(value, dict):
        return [path for item in value.values() for path in host_paths(item)]
    if isinstance(value, list):
        return [path for item in value for path in host_paths(item)]
    return []


def test_flags_map_to_plugin_keys(node, start_supervisor, private_etc):
    supervisor = start_supervisor(
        *node.flags("--multus-conf-file=auto", CONF_DIR_FLAG, LOG_LEVEL_FLAG, *OTHER_FLAGS),
        wrapper=private_etc,
    )

    assert supervisor.wait_log(STEADY_MARK), supervisor.log()
    config = json.loads(node.multus_conf.read_bytes())

    assert sorted(config) == sorted(EXPECTED_KEYS)
    for key, value in EXPECTED_KEYS.items():
        assert config[key] == value, key
    assert "cniConf" not in config
    assert host_paths(config) == []


def test_invalid_log_level_exits(node, start_supervisor):
    before = directory_tree(node.conf)

    supervisor = start_supervisor(
        *node.flags("--multus-conf-file=auto", CONF_DIR_FLAG, "--multus-log-level=info", *OTHER_FLAGS)
    )
    status = supervisor.wait_exit()
    error = first_log_line(supervisor, "'info'")

    assert status == 2
    assert error is not None, supervisor.log()
    assert "--multus-log-level" in error
    assert "invalid" in error
    for level in LOG_LEVELS:
        assert level in error
    assert directory_tree(node.conf) == before


def test_log_level_lowercased(node, start_supervisor, private_etc):
    supervisor = start_supervisor(
        *node.flags("--multus-conf-file=auto", CONF_DIR_FLAG, "--multus-log-level=VERBOSE", *OTHER_FLAGS),
        wrapper=private_etc,
    )

    assert supervisor.wait_log(STEADY_MARK), supervisor.log()
    config = json.loads(node.multus_conf.read_bytes())

    assert config["logLevel"] == "verbose"


def test_unset_flags_omit_keys(node, start_supervisor):
    supervisor = start_supervisor(*node.flags("--multus-conf-file=auto", *OTHER_FLAGS))

    assert supervisor.wait_log(STEADY_MARK), supervisor.log()
    config = json.loads(node.multus_conf.read_bytes())

    assert "logLevel" not in config
    assert "confDir" not in config
    assert "cniConf" not in config
    assert host_paths(config) == []
