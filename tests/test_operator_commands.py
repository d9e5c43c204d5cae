"""The operator commands ``render`` and ``status``, with their exact output."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.support import DATA, KUBERNETES_ENV, read_or_none, wait_until

CALICO = (DATA / "calico.conflist").read_text()
# A JWT whose payload is {"exp": 1799999999}; the signature part is a placeholder.
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJleHAiOjE3OTk5OTk5OTl9.c2lnbmF0dXJl"
CONF_SHA = "0567f0b4a0ea"
DELEGATE = (
    '{"cniVersion":"0.3.1","name":"k8s-pod-network","plugins":[{"datastore_type":"kubernetes",'
    '"ipam":{"type":"calico-ipam"},"kubernetes":{"kubeconfig":"/etc/cni/net.d/calico-kubeconfig"},'
    '"log_file_path":"/var/log/calico/cni/cni.log","log_level":"info","mtu":0,"nodename":"node-1",'
    '"policy":{"type":"k8s"},"type":"calico"},{"capabilities":{"portMappings":true},"snat":true,'
    '"type":"portmap"},{"capabilities":{"bandwidth":true},"type":"bandwidth"}]}'
)


def command(*args: str) -> subprocess.CompletedProcess[str]:
    environment = {"PATH": "/usr/bin:/bin", **KUBERNETES_ENV}
    return subprocess.run(
        [sys.executable, "-m", "supervisor", *args], capture_output=True, text=True, env=environment, timeout=30
    )


def prepare(node):
    (node.conf / "10-calico.conflist").write_text(CALICO)
    (node.sa / "token").write_text(JWT)
    return [*node.flags(), f"--state-file={node.root / 'status.json'}"]


def kubeconfig_sha(node) -> str:
    import hashlib

    return hashlib.sha256(node.kubeconfig.read_bytes()).hexdigest()[:12]


def test_render_missing_files_exit_1(node):
    flags = prepare(node)
    result = command("render", *flags)
    conf = node.multus_conf
    lines = result.stdout.splitlines()
    assert result.returncode == 1
    assert lines[0] == f"{conf}: would write (missing; sha256 none -> {CONF_SHA}, mode 0600)"
    assert lines[1:4] == ["--- /dev/null", f"+++ {conf}", "@@ -0,0 +1,10 @@"]
    assert lines[4:14] == [
        "+{",
        '+        "cniVersion": "0.3.1",',
        '+        "name": "multus-cni-network",',
        '+        "type": "multus",',
        '+        "capabilities": {"bandwidth":true,"portMappings":true},',
        '+        "kubeconfig": "/etc/cni/net.d/multus.d/multus.kubeconfig",',
        '+        "delegates": [',
        f"+                {DELEGATE}",
        "+        ]",
        "+}",
    ]
    assert lines[14].startswith(f"{node.kubeconfig}: would write (missing; sha256 none -> ")
    assert lines[15] == "(content of kubeconfig not shown because it holds a secret; use --show-secrets)"
    assert len(lines) == 16
    assert not conf.exists()
    assert JWT not in result.stdout


def test_render_current_exit_0(node, start_supervisor):
    flags = prepare(node)
    supervisor = start_supervisor(*flags)
    assert wait_until(node.kubeconfig.exists)
    supervisor.stop()
    result = command("render", *flags)
    assert result.returncode == 0
    assert result.stdout.splitlines() == [
        f"{node.multus_conf}: current (sha256 {CONF_SHA})",
        f"{node.kubeconfig}: current (sha256 {kubeconfig_sha(node)})",
    ]


def test_render_shows_diff_of_edit(node, start_supervisor):
    flags = prepare(node)
    supervisor = start_supervisor(*flags)
    assert wait_until(node.kubeconfig.exists)
    supervisor.stop()
    text = node.multus_conf.read_text()
    node.multus_conf.write_text(text.replace('"multus-cni-network"', '"edited"'))
    before = node.multus_conf.read_bytes()
    result = command("render", *flags)
    assert result.returncode == 1
    assert '-        "name": "edited",' in result.stdout.splitlines()
    assert '+        "name": "multus-cni-network",' in result.stdout.splitlines()
    assert node.multus_conf.read_bytes() == before


def test_render_error_exit_2(node):
    flags = prepare(node)
    (node.conf / "10-calico.conflist").write_text("{")
    result = command("render", *flags)
    assert result.returncode == 2
    assert result.stdout == ""
    assert f"{node.conf / '10-calico.conflist'} is invalid JSON" in result.stderr


def test_render_shows_secret_on_request(node):
    flags = prepare(node)
    result = command("render", "--show-secrets", *flags)
    assert f'+    token: "{JWT}"' in result.stdout.splitlines()


def test_status_offline_text(node):
    flags = prepare(node)
    result = command("status", *flags)
    calico = node.conf / "10-calico.conflist"
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "state: not running",
        f"primary config: {calico}",
        f"primary config reason: first usable *.conf or *.conflist file in {node.conf} by name",
        "token expiry: 2027-01-15T07:59:59+00:00",
        "last error: none",
        f"file: {node.multus_conf} sha256 {CONF_SHA} (missing)",
        f"file: {node.kubeconfig} sha256 " + result.stdout.splitlines()[6].split(" sha256 ")[1],
    ]
    assert result.stdout.splitlines()[6].endswith(" (missing)")


def test_status_running_json(node, start_supervisor):
    flags = prepare(node)
    supervisor = start_supervisor(*flags)
    assert wait_until(node.kubeconfig.exists)
    assert wait_until(lambda: b'"state": "steady"' in (read_or_none(node.root / "status.json") or b""))
    result = command("status", "--json", *flags)
    report = json.loads(result.stdout)
    assert result.returncode == 0
    assert report["pid"] == supervisor.process.pid
    assert report["state"] == "steady"
    assert report["last_error"] is None
    assert report["token_expiry"] == "2027-01-15T07:59:59+00:00"
    assert report["primary_config"] == str(node.conf / "10-calico.conflist")
    assert [item["path"] for item in report["files"]] == [str(node.multus_conf), str(node.kubeconfig)]
    assert report["files"][0]["sha256"].startswith(CONF_SHA)
    supervisor.stop()
    assert not (node.root / "status.json").exists()


def test_status_reports_wait_reason(node, start_supervisor):
    flags = prepare(node)
    (node.conf / "10-calico.conflist").unlink()
    supervisor = start_supervisor(*flags)
    assert wait_until(lambda: (node.root / "status.json").exists())
    result = command("status", "--json", *flags)
    report = json.loads(result.stdout)
    assert report["state"] == "init"
    assert report["last_error_kind"] == "master-not-found"
    assert f"no *.conf or *.conflist file in {node.conf}" in report["last_error"]
    supervisor.stop()


def test_cleanup_command_removes_owned_files(node, start_supervisor):
    flags = prepare(node)
    supervisor = start_supervisor(*flags)
    assert wait_until(node.kubeconfig.exists)
    busy = command("cleanup", *flags)
    assert busy.returncode == 1
    assert node.multus_conf.exists()
    supervisor.stop()

    result = command("cleanup", *flags)
    assert result.returncode == 0
    assert not node.multus_conf.exists()
    assert not node.kubeconfig.exists()
    assert (node.conf / "10-calico.conflist").exists()


def test_status_ignores_state_file_of_killed_process(node, start_supervisor):
    import signal

    flags = prepare(node)
    supervisor = start_supervisor(*flags)
    assert wait_until(lambda: b'"state": "steady"' in (read_or_none(node.root / "status.json") or b""))
    supervisor.stop(signal.SIGKILL)
    report = json.loads(command("status", "--json", *flags).stdout)
    assert report["state"] == "not running"
