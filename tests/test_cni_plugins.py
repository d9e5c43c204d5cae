"""The installed delegate drives the real CNI plugins of containernetworking-plugins.

Each test wraps a primary config that uses the ``bridge`` plugin with
``host-local`` IPAM and takes ``delegates[0]`` from the installed multus
config. It executes that delegate the way the CNI specification describes for a container
runtime. Each plugin runs as its own process with the parameters in
``CNI_*`` variables and the config on stdin. In a config list, each plugin
gets the previous plugin's result as ``prevResult``.

Two network namespaces made by the test stand in for the node and the pod.
Every plugin runs inside the node namespace through ``ip netns exec``, so the
bridge and the host end of the veth pair are created there and the network of
the machine running the tests is never changed. Deleting the two namespaces
removes every interface the plugins created.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support import wait_until

CNI_PATH = Path("/usr/lib/cni")
PLUGINS = ("bridge", "host-local", "loopback", "tuning")
NETNS_DIR = Path("/run/netns")
#: TEST-NET-1, reserved for documentation by RFC 5737. Addresses from it exist only inside the namespaces.
SUBNET = ipaddress.ip_network("192.0.2.0/24")
TUNED_MTU = 1400
PLUGIN_TIMEOUT = 30.0
IP_COMMAND = shutil.which("ip")


def _missing_requirements() -> str | None:
    if os.geteuid() != 0:
        return "creating network namespaces requires root"
    if IP_COMMAND is None:
        return "the ip command (iproute2) is not installed"
    missing = [name for name in PLUGINS if not os.access(CNI_PATH / name, os.X_OK)]
    if missing:
        return f"CNI plugins missing from {CNI_PATH}: {', '.join(missing)}"
    return None


MISSING = _missing_requirements()
pytestmark = pytest.mark.skipif(MISSING is not None, reason=str(MISSING))


class PluginFailed(Exception):
    """A CNI plugin exited with a non-zero status."""


def run_ip(*args: str) -> subprocess.CompletedProcess[str]:
    assert IP_COMMAND is not None
    return subprocess.run([IP_COMMAND, *args], capture_output=True, text=True, timeout=PLUGIN_TIMEOUT)


@dataclass
class Sandbox:
    """A node-side namespace, a pod namespace and the names the plugins use in them."""

    node_ns: str
    pod_ns: str
    bridge: str
    container_id: str
    ipam_dir: Path

    def exec_plugin(self, command: str, config: dict[str, Any], ifname: str) -> dict[str, Any] | None:
        """Run the plugin named by ``config["type"]`` in the node namespace and return its result.

        :raises PluginFailed: with the CNI error the plugin printed.
        """
        assert IP_COMMAND is not None
        env = {
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            "CNI_COMMAND": command,
            "CNI_CONTAINERID": self.container_id,
            "CNI_NETNS": str(NETNS_DIR / self.pod_ns),
            "CNI_IFNAME": ifname,
            "CNI_PATH": str(CNI_PATH),
        }
        binary = CNI_PATH / config["type"]
        completed = subprocess.run(
            [IP_COMMAND, "netns", "exec", self.node_ns, str(binary)],
            input=json.dumps(config).encode(),
            env=env,
            capture_output=True,
            timeout=PLUGIN_TIMEOUT,
        )
        if completed.returncode != 0:
            msg = (
                f"{command} of plugin {config['type']} on {ifname} exited with status "
                f"{completed.returncode}: stdout {completed.stdout.decode(errors='replace')!r}, "
                f"stderr {completed.stderr.decode(errors='replace')!r}"
            )
            raise PluginFailed(msg)
        output = completed.stdout.strip()
        return json.loads(output) if output else None

    def _plugin_configs(self, network: dict[str, Any]) -> list[dict[str, Any]]:
        """Return the per-plugin configs of *network*, with a list's name and cniVersion injected."""
        if "plugins" not in network:
            return [dict(network)]
        shared = {"name": network["name"], "cniVersion": network["cniVersion"]}
        return [{**plugin, **shared} for plugin in network["plugins"]]

    def add(self, network: dict[str, Any], ifname: str) -> dict[str, Any]:
        """Run ADD through every plugin in order, chaining each result as the next ``prevResult``."""
        result: dict[str, Any] | None = None
        for config in self._plugin_configs(network):
            if result is not None:
                config["prevResult"] = result
            result = self.exec_plugin("ADD", config, ifname)
        assert result is not None, f"ADD of {network['name']} returned no result"
        return result

    def check(self, network: dict[str, Any], ifname: str, result: dict[str, Any]) -> None:
        """Run CHECK through every plugin in order with the result of ADD as ``prevResult``."""
        for config in self._plugin_configs(network):
            self.exec_plugin("CHECK", {**config, "prevResult": result}, ifname)

    def delete(self, network: dict[str, Any], ifname: str, result: dict[str, Any]) -> None:
        """Run DEL through every plugin in reverse order with the result of ADD as ``prevResult``."""
        for config in reversed(self._plugin_configs(network)):
            self.exec_plugin("DEL", {**config, "prevResult": result}, ifname)

    def pod_link(self, ifname: str) -> dict[str, Any] | None:
        """Return ``ip -json addr`` of *ifname* in the pod namespace, or ``None`` when it is absent."""
        completed = run_ip("-n", self.pod_ns, "-json", "addr", "show", "dev", ifname)
        if completed.returncode != 0:
            return None
        links = json.loads(completed.stdout)
        return links[0] if links else None


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    """Create the node and pod namespaces and delete them, with everything in them, afterwards."""
    suffix = secrets.token_hex(4)
    sandbox = Sandbox(
        node_ns=f"mc-node-{suffix}",
        pod_ns=f"mc-pod-{suffix}",
        bridge=f"mcbr{suffix}",
        container_id=f"multus-config-test-{suffix}",
        ipam_dir=tmp_path / "host-local",
    )
    created: list[str] = []
    try:
        for name in (sandbox.node_ns, sandbox.pod_ns):
            completed = run_ip("netns", "add", name)
            assert completed.returncode == 0, f"ip netns add {name} failed: {completed.stderr}"
            created.append(name)
        yield sandbox
    finally:
        failures = []
        for name in reversed(created):
            completed = run_ip("netns", "delete", name)
            if completed.returncode != 0:
                failures.append(f"ip netns delete {name} failed: {completed.stderr}")
        assert not failures, "; ".join(failures)


def bridge_plugin(sandbox: Sandbox) -> dict[str, Any]:
    """Return a bridge config without IP masquerade, so no iptables rule is added."""
    return {
        "type": "bridge",
        "bridge": sandbox.bridge,
        "isGateway": False,
        "ipMasq": False,
        "ipam": {
            "type": "host-local",
            "subnet": str(SUBNET),
            "dataDir": str(sandbox.ipam_dir),
        },
    }


def single_conf(sandbox: Sandbox) -> dict[str, Any]:
    return {"cniVersion": "0.4.0", "name": "mc-bridge-conf", **bridge_plugin(sandbox)}


def tuned_conflist(sandbox: Sandbox) -> dict[str, Any]:
    return {
        "cniVersion": "1.0.0",
        "name": "mc-bridge-list",
        "plugins": [bridge_plugin(sandbox), {"type": "tuning", "mtu": TUNED_MTU}],
    }


def loopback_network(cni_version: str) -> dict[str, Any]:
    """Return the loopback config a container runtime adds to every pod."""
    return {"cniVersion": cni_version, "name": "cni-loopback", "type": "loopback"}


@dataclass(frozen=True)
class Case:
    primary_name: str
    build: Callable[[Sandbox], dict[str, Any]]
    multus_name: str


CASES = [
    pytest.param(Case("10-bridge.conf", single_conf, "00-multus.conf"), id="conf-0.4.0"),
    pytest.param(Case("10-bridge.conflist", tuned_conflist, "00-multus.conflist"), id="conflist-1.0.0"),
]


def installed_delegate(path: Path) -> dict[str, Any]:
    """Return ``delegates[0]`` of an installed multus config or config list."""
    document = json.loads(path.read_text())
    multus = document["plugins"][0] if "plugins" in document else document
    return multus["delegates"][0]


def ipv4_addresses(link: dict[str, Any]) -> list[ipaddress.IPv4Address]:
    return [ipaddress.IPv4Address(info["local"]) for info in link.get("addr_info", []) if info["family"] == "inet"]


def result_addresses(result: dict[str, Any]) -> list[ipaddress.IPv4Interface]:
    return [ipaddress.IPv4Interface(ip["address"]) for ip in result.get("ips", []) if ":" not in ip["address"]]


@pytest.mark.parametrize("case", CASES)
def test_delegate_runs_bridge(case: Case, sandbox: Sandbox, node, start_supervisor):
    primary = case.build(sandbox)
    (node.conf / case.primary_name).write_text(json.dumps(primary, indent=2))
    supervisor = start_supervisor(*node.flags())
    multus_path = node.conf / case.multus_name
    assert wait_until(multus_path.exists), supervisor.log()
    assert supervisor.stop() == 0
    delegate = installed_delegate(multus_path)
    assert delegate == primary

    result = sandbox.add(delegate, "eth0")
    loopback = loopback_network(delegate["cniVersion"])
    loopback_result = sandbox.add(loopback, "lo")

    eth0 = sandbox.pod_link("eth0")
    assert eth0 is not None, "ADD did not create eth0 in the pod namespace"
    pod_addresses = ipv4_addresses(eth0)
    assert pod_addresses, f"eth0 has no IPv4 address: {eth0}"
    assert all(address in SUBNET for address in pod_addresses), pod_addresses
    assert "UP" in eth0["flags"]
    assert [interface.ip for interface in result_addresses(result)] == pod_addresses
    if "plugins" in delegate:
        assert eth0["mtu"] == TUNED_MTU
    lo = sandbox.pod_link("lo")
    assert lo is not None
    assert "UP" in lo["flags"]
    assert ipaddress.IPv4Address("127.0.0.1") in ipv4_addresses(lo)

    node_bridge = run_ip("-n", sandbox.node_ns, "link", "show", "dev", sandbox.bridge)
    assert node_bridge.returncode == 0, f"bridge {sandbox.bridge} not in the node namespace"
    outside_bridge = run_ip("link", "show", "dev", sandbox.bridge)
    assert outside_bridge.returncode != 0, f"bridge {sandbox.bridge} appeared outside the namespaces"

    sandbox.check(delegate, "eth0", result)
    sandbox.check(loopback, "lo", loopback_result)

    reservation = sandbox.ipam_dir / delegate["name"] / str(pod_addresses[0])
    assert reservation.exists(), f"host-local did not record {reservation}"
    sandbox.delete(delegate, "eth0", result)
    sandbox.delete(loopback, "lo", loopback_result)
    assert sandbox.pod_link("eth0") is None
    assert not reservation.exists()
