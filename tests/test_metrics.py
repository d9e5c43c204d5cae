"""Prometheus metrics, scraped over loopback from a running supervisor."""

from __future__ import annotations

import socket
import subprocess
import sys
import urllib.request

from tests.support import DATA, KUBERNETES_ENV, atomic_write, wait_until

CALICO = (DATA / "calico.conflist").read_text()
# A JWT whose payload is {"exp": 1799999999}.
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJleHAiOjE3OTk5OTk5OTl9.c2lnbmF0dXJl"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


def test_metrics_count_renders_and_installs(node, start_supervisor):
    (node.conf / "10-calico.conflist").write_text(CALICO)
    (node.sa / "token").write_text(JWT)
    port = free_port()
    supervisor = start_supervisor(*node.flags(f"--metrics-address=127.0.0.1:{port}"))
    assert supervisor.wait_log("Serving Prometheus metrics")
    assert wait_until(node.kubeconfig.exists)
    assert wait_until(lambda: scrape(port).get('multus_config_state{multus_config_state="steady"}') == 1.0)

    samples = scrape(port)
    assert samples["multus_config_installs_total"] == 2.0
    assert samples['multus_config_renders_total{result="ok"}'] >= 1.0
    assert samples['multus_config_state{multus_config_state="init"}'] == 0.0
    assert samples["multus_config_last_install_timestamp_seconds"] > 0
    assert samples["multus_config_token_expiry_timestamp_seconds"] == 1799999999.0

    atomic_write(node.conf / "10-calico.conflist", "{")
    assert wait_until(lambda: scrape(port).get('multus_config_errors_total{kind="no-usable-master"}') == 1.0)
    assert scrape(port)['multus_config_renders_total{result="failed"}'] == 1.0
    assert supervisor.stop() == 0


def test_touch_counts_skipped_write(node, start_supervisor):
    primary = node.conf / "10-calico.conflist"
    primary.write_text(CALICO)
    port = free_port()
    supervisor = start_supervisor(*node.flags(f"--metrics-address=127.0.0.1:{port}"))
    assert supervisor.wait_log("Serving Prometheus metrics")
    assert wait_until(lambda: scrape(port).get('multus_config_state{multus_config_state="steady"}') == 1.0)
    before = scrape(port).get("multus_config_skipped_writes_total", 0.0)
    primary.touch()
    assert wait_until(lambda: scrape(port)["multus_config_skipped_writes_total"] >= before + 2)
    assert scrape(port)["multus_config_installs_total"] == 2.0
    assert supervisor.stop() == 0


def test_non_loopback_address_exits_2(node):
    result = subprocess.run(
        [sys.executable, "-m", "supervisor", *node.flags("--metrics-address=0.0.0.0:9464")],
        capture_output=True, text=True, timeout=30, env={"PATH": "/usr/bin:/bin", **KUBERNETES_ENV},
    )
    assert result.returncode == 2
    assert "must be a loopback address" in result.stderr
