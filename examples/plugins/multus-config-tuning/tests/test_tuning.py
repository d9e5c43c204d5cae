"""The tuning plugin in a real supervisor: options, chained plugin, .conf output, blocking."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from plugins.testing import (
    NotifySocket,
    SupervisorProcess,
    atomic_write,
    read_or_none,
    wait_until,
)

KUBECONFIG_HOST = "/etc/cni/net.d/multus.d/multus.kubeconfig"

PRIMARY_CONFLIST = (
    '{"cniVersion": "1.0.0", "name": "pod-net", "plugins": [{"type": "bridge", "bridge": "cni0",'
    ' "ipam": {"type": "host-local", "subnet": "10.1.0.0/16"}}]}'
)
DELEGATE_LINE = (
    '{"cniVersion":"1.0.0","name":"pod-net","plugins":[{"bridge":"cni0",'
    '"ipam":{"subnet":"10.1.0.0/16","type":"host-local"},"type":"bridge"}]}'
)
CONFLIST_HEAD = (
    "{\n"
    '    "cniVersion": "1.0.0",\n'
    '    "name": "multus-cni-network",\n'
    '    "plugins": [ {\n'
    '        "type": "multus",\n'
    f'        "kubeconfig": "{KUBECONFIG_HOST}",\n'
    '        "delegates": [\n'
    f"            {DELEGATE_LINE}\n"
    "        ]\n"
)
CONFLIST_WITH_TUNING = CONFLIST_HEAD + (
    '    }, {"sysctl":{"net.core.somaxconn":"500","net.ipv4.conf.all.arp_notify":"1"},"type":"tuning"}]\n'
    "}\n"
)
CONFLIST_WITHOUT_TUNING = CONFLIST_HEAD + "    }]\n}\n"

PRIMARY_CONF = '{"cniVersion": "0.4.0", "name": "%s", "type": "bridge", "ipam": {"type": "host-local"}}'


def expected_conf(name: str) -> str:
    return (
        "{\n"
        '        "cniVersion": "0.4.0",\n'
        '        "name": "multus-cni-network",\n'
        '        "type": "multus",\n'
        f'        "kubeconfig": "{KUBECONFIG_HOST}",\n'
        '        "delegates": [\n'
        f'                {{"cniVersion":"0.4.0","ipam":{{"type":"host-local"}},"name":"{name}","type":"bridge"}}\n'
        "        ]\n"
        "}\n"
    )


FORMAT = "(expected KEY=VALUE[,KEY=VALUE...] where KEY is a network sysctl, such as net.core.somaxconn=500)"
# Out of order on purpose, because the config lists the keys sorted.
SYSCTLS = "--tuning-sysctl=net.ipv4.conf.all.arp_notify=1, net.core.somaxconn=500"


def install_cni_binaries(directory: Path, *names: str) -> None:
    """Put executable stand-ins for CNI plugin binaries into *directory*.

    Nothing runs them. A node has these binaries, and a validation plugin
    installed in the same environment, such as multus-config-binary-check,
    holds back configs whose binaries are missing.
    """
    for name in names:
        path = directory / name
        path.write_text("#!/bin/sh\nexit 0\n")
        os.chmod(path, 0o755)


@pytest.fixture
def node(multus_node):
    install_cni_binaries(multus_node.bin, "bridge", "host-local", "tuning")
    return multus_node


def wait_draining(notify: NotifySocket, predicate: Callable[[], object]) -> bool:
    """Wait until *predicate* is true, reading the notify socket meanwhile.

    The supervisor's sd_notify call blocks once 10 datagrams (the default
    net.unix.max_dgram_qlen) wait unread, so a wait for anything else must
    keep that queue empty.
    """

    def drained_check() -> object:
        notify.receive()
        return predicate()

    return wait_until(drained_check)


def loaded_plugins(process: SupervisorProcess) -> list[str]:
    """Return the plugin names from the supervisor's start line."""
    match = re.search(r"Starting multus-config \(pid \d+, plugins: ([^)]*)\)", process.log())
    assert match is not None, process.log()
    return match.group(1).split(", ")


def read_state(process: SupervisorProcess) -> dict[str, Any]:
    """Return the supervisor's state file, which contains every plugin's describe output."""
    flag = next(arg for arg in process.args if arg.startswith("--state-file="))
    text = read_or_none(Path(flag.split("=", 1)[1]))
    return json.loads(text) if text else {}


def test_sysctls_chained_after_multus(node, multus_supervisor, multus_notify):
    (node.conf / "10-pod-net.conflist").write_text(PRIMARY_CONFLIST)
    supervisor = multus_supervisor(*node.flags(SYSCTLS))

    assert multus_notify.wait_for("READY=1"), supervisor.log()
    assert node.multus_conflist.read_text() == CONFLIST_WITH_TUNING
    assert not node.multus_conf.exists()
    state = read_state(supervisor)
    assert state["tuning_sysctl"] == {"net.core.somaxconn": "500", "net.ipv4.conf.all.arp_notify": "1"}
    assert state["tuning_chained"] is True


def test_without_option_nothing_chained(node, multus_supervisor, multus_notify):
    (node.conf / "10-pod-net.conflist").write_text(PRIMARY_CONFLIST)
    supervisor = multus_supervisor(*node.flags())

    assert multus_notify.wait_for("READY=1"), supervisor.log()
    assert node.multus_conflist.read_text() == CONFLIST_WITHOUT_TUNING
    assert "tuning_chained" not in read_state(supervisor)


def test_environment_variable_sets_sysctls(node, multus_supervisor, multus_notify):
    (node.conf / "10-pod-net.conflist").write_text(PRIMARY_CONFLIST)
    env = {"MULTUS_CONFIG_TUNING_SYSCTL": "net.core.somaxconn=500,net.ipv4.conf.all.arp_notify=1"}
    supervisor = multus_supervisor(*node.flags(), env=env)

    assert multus_notify.wait_for("READY=1"), supervisor.log()
    assert node.multus_conflist.read_text() == CONFLIST_WITH_TUNING


def test_repeated_flag_keeps_last(node, multus_supervisor, multus_notify):
    (node.conf / "10-pod-net.conflist").write_text(PRIMARY_CONFLIST)
    flags = node.flags("--tuning-sysctl=net.core.somaxconn=500", "--tuning-sysctl=net.ipv4.ip_forward=1")
    supervisor = multus_supervisor(*flags)

    assert multus_notify.wait_for("READY=1"), supervisor.log()
    expected = CONFLIST_HEAD + '    }, {"sysctl":{"net.ipv4.ip_forward":"1"},"type":"tuning"}]\n}\n'
    assert node.multus_conflist.read_text() == expected


def test_conf_output_unchanged_and_warned_once(node, multus_supervisor, multus_notify):
    warning = (
        f"Not chaining the tuning plugin: {node.multus_conf} is a single-plugin config "
        "(cniVersion 0.4.0 is earlier than 1.0.0) and cannot chain plugins, so "
        "--tuning-sysctl takes effect only once the primary CNI config has cniVersion "
        "1.0.0 or later"
    )
    (node.conf / "10-pod-net.conf").write_text(PRIMARY_CONF % "net-a")
    supervisor = multus_supervisor(*node.flags(SYSCTLS))

    assert multus_notify.wait_for("READY=1"), supervisor.log()
    assert node.multus_conf.read_text() == expected_conf("net-a")
    assert supervisor.log().count(warning) == 1
    assert read_state(supervisor)["tuning_chained"] is False

    # A second .conf render logs nothing new.
    atomic_write(node.conf / "10-pod-net.conf", PRIMARY_CONF % "net-b")
    assert wait_draining(multus_notify, lambda: read_or_none(node.multus_conf) == expected_conf("net-b").encode()), supervisor.log()
    assert supervisor.log().count(warning) == 1

    # A primary with cniVersion 1.0.0 gives a .conflist, which gets the tuning plugin.
    atomic_write(node.conf / "05-pod-net.conflist", PRIMARY_CONFLIST)
    assert wait_draining(multus_notify, lambda: read_or_none(node.multus_conflist) == CONFLIST_WITH_TUNING.encode()), supervisor.log()
    assert wait_draining(multus_notify, lambda: not node.multus_conf.exists())

    # Switching back to .conf warns again, once.
    (node.conf / "05-pod-net.conflist").unlink()
    assert wait_draining(multus_notify, lambda: read_or_none(node.multus_conf) == expected_conf("net-b").encode()), supervisor.log()
    assert wait_draining(multus_notify, lambda: supervisor.log().count(warning) == 2)
    assert supervisor.running()


INVALID_VALUES = [
    ("net.core.somaxconn", f"--tuning-sysctl: invalid value 'net.core.somaxconn': missing '=' {FORMAT}"),
    (
        "kernel.pid_max=4096",
        (
            "--tuning-sysctl: invalid value 'kernel.pid_max=4096': key 'kernel.pid_max' is outside net., "
            f"the only sysctls the tuning plugin sets {FORMAT}"
        ),
    ),
    (
        "net..core=1",
        (
            "--tuning-sysctl: invalid value 'net..core=1': key 'net..core' is not a sysctl name "
            f"(letters, digits, '_' and '-', separated by '.' or '/') {FORMAT}"
        ),
    ),
    ("net.core.somaxconn=", f"--tuning-sysctl: invalid value 'net.core.somaxconn=': empty value {FORMAT}"),
    (
        "net.core.somaxconn=5\t00",
        f"--tuning-sysctl: invalid value 'net.core.somaxconn=5\\t00': the value contains a control character {FORMAT}",
    ),
    (
        "net.core.somaxconn=500,,net.ipv4.ip_forward=1",
        (
            "--tuning-sysctl: invalid value 'net.core.somaxconn=500,,net.ipv4.ip_forward=1': "
            f"empty entry between commas {FORMAT}"
        ),
    ),
    (
        "net.core.somaxconn=500,net/core/somaxconn=600",
        (
            "--tuning-sysctl: invalid value 'net/core/somaxconn=600': key 'net/core/somaxconn' is given "
            f"twice (first as 'net.core.somaxconn') {FORMAT}"
        ),
    ),
]


@pytest.mark.parametrize(("value", "message"), INVALID_VALUES, ids=[value for value, _ in INVALID_VALUES])
def test_invalid_value_exits_2(node, multus_supervisor, value, message):
    (node.conf / "10-pod-net.conflist").write_text(PRIMARY_CONFLIST)
    supervisor = multus_supervisor(*node.flags(f"--tuning-sysctl={value}"))

    assert supervisor.wait_exit() == 2
    assert f"multus-config: error: {message}\n" in supervisor.log()
    assert not node.multus_conflist.exists()


def test_explicit_conf_file_exits_2(node, multus_supervisor):
    source = node.root / "given" / "multus.conflist"
    source.parent.mkdir()
    source.write_text(CONFLIST_WITHOUT_TUNING)
    supervisor = multus_supervisor(*node.flags(f"--multus-conf-file={source}", SYSCTLS))

    assert supervisor.wait_exit() == 2
    expected = (
        f"multus-config: error: --tuning-sysctl cannot be applied with --multus-conf-file={source}, "
        "because that file is installed as given; add the tuning plugin to the file itself or use "
        "--multus-conf-file=auto\n"
    )
    assert expected in supervisor.log()


@pytest.mark.parametrize(
    ("flags", "env"),
    [
        (["--block-plugins=tuning"], {}),
        ([], {"MULTUS_CONFIG_BLOCK_PLUGINS": "tuning"}),
    ],
    ids=["flag", "environment"],
)
def test_blocked_plugin_option_unknown(node, multus_supervisor, flags, env):
    (node.conf / "10-pod-net.conflist").write_text(PRIMARY_CONFLIST)
    supervisor = multus_supervisor(*node.flags(*flags, "--tuning-sysctl=net.core.somaxconn=500"), env=env)

    assert supervisor.wait_exit() == 2
    expected = "multus-config: error: unrecognized arguments: --tuning-sysctl=net.core.somaxconn=500\n"
    assert expected in supervisor.log()


def test_blocked_plugin_renders_without_tuning(node, multus_supervisor, multus_notify):
    (node.conf / "10-pod-net.conflist").write_text(PRIMARY_CONFLIST)
    supervisor = multus_supervisor(*node.flags("--block-plugins=tuning"))

    assert multus_notify.wait_for("READY=1"), supervisor.log()
    assert node.multus_conflist.read_text() == CONFLIST_WITHOUT_TUNING
    assert "multus-conf" in loaded_plugins(supervisor)
    assert "tuning" not in loaded_plugins(supervisor)
