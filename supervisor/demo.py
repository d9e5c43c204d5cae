"""``multus-config demo``: run the supervisor on a temporary example node.

Builds a node layout with a Calico-like primary CNI config and a
service-account token in a temporary directory, and starts the supervisor on
it as a child process. Then prints the installed config, changes the primary
config, prints the re-rendered config and stops the supervisor. Nothing
outside the temporary directory is touched.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

CALICO = {
    "name": "k8s-pod-network",
    "cniVersion": "0.3.1",
    "plugins": [
        {
            "type": "calico",
            "datastore_type": "kubernetes",
            "nodename": "node-1",
            "mtu": 1450,
            "ipam": {"type": "calico-ipam"},
            "policy": {"type": "k8s"},
            "kubernetes": {"kubeconfig": "/etc/cni/net.d/calico-kubeconfig"},
        },
        {"type": "portmap", "snat": True, "capabilities": {"portMappings": True}},
        {"type": "bandwidth", "capabilities": {"bandwidth": True}},
    ],
}
DEMO_CA = b"-----BEGIN CERTIFICATE-----\nZGVtbyBDQSwgbm90IGEgcmVhbCBjZXJ0aWZpY2F0ZQ==\n-----END CERTIFICATE-----\n"
WAIT_SECONDS = 10.0


def _wait(predicate: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not predicate():
        if time.monotonic() > deadline:
            msg = f"timed out after {WAIT_SECONDS:g} s waiting for {what}"
            raise TimeoutError(msg)
        time.sleep(0.01)


def _write_replacing(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.demo-tmp")
    temporary.write_text(text)
    os.rename(temporary, path)


def _step(text: str) -> None:
    print(f"\n== {text}", flush=True)


def run_demo(argv: Sequence[str]) -> int:
    """Run the demo; return 0 when every step behaved as expected."""
    parser = argparse.ArgumentParser(prog="multus-config demo", description=__doc__)
    parser.add_argument("--keep", action="store_true", help="keep the temporary node directory and print its path")
    options = parser.parse_args(argv)

    root = Path(tempfile.mkdtemp(prefix="multus-config-demo-"))
    conf = root / "etc/cni/net.d"
    account = root / "serviceaccount"
    conf.mkdir(parents=True)
    account.mkdir()
    (account / "token").write_text("demo-token\n")
    (account / "ca.crt").write_bytes(DEMO_CA)
    primary = conf / "10-calico.conflist"
    primary.write_text(json.dumps(CALICO, indent=2) + "\n")
    output = conf / "00-multus.conf"

    command = [
        sys.executable, "-m", "supervisor",
        f"--cni-conf-dir={conf}",
        f"--multus-autoconfig-dir={conf}",
        f"--cni-bin-dir={root / 'opt/cni/bin'}",
        f"--service-account-dir={account}",
        "--skip-multus-binary-copy",
        "--cleanup-config-on-exit",
        f"--lock-file={root / 'multus-config.lock'}",
        f"--state-file={root / 'status.json'}",
    ]
    environment = dict(os.environ, KUBERNETES_SERVICE_HOST="10.96.0.1", KUBERNETES_SERVICE_PORT="443")
    environment.pop("NOTIFY_SOCKET", None)
    _step(f"Example node in {root}; starting the supervisor (its log follows on stderr)")
    print(" ".join(command), flush=True)
    process = subprocess.Popen(command, env=environment)
    try:
        _wait(output.exists, f"{output}")
        _step(f"Installed {output} (mode {output.stat().st_mode & 0o777:04o})")
        before = output.read_text()
        print(before, end="", flush=True)

        _step(f"Changing the primary config: mtu 1450 -> 1400 in {primary.name}")
        changed = json.loads(primary.read_text())
        changed["plugins"][0]["mtu"] = 1400
        _write_replacing(primary, json.dumps(changed, indent=2) + "\n")
        _wait(lambda: output.exists() and output.read_text() != before, "the re-render")
        after = output.read_text()
        diff = difflib.unified_diff(before.splitlines(True), after.splitlines(True), "before", "after")
        print("".join(diff), end="", flush=True)

        _step("Stopping with SIGTERM; --cleanup-config-on-exit removes the owned files")
        process.send_signal(signal.SIGTERM)
        status = process.wait(WAIT_SECONDS)
        remaining = sorted(path.name for path in conf.iterdir())
        print(f"exit status {status}; left in {conf}: {', '.join(remaining)}", flush=True)
        return 0 if status == 0 and not output.exists() else 1
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if options.keep:
            print(f"kept {root}")
        else:
            import shutil

            shutil.rmtree(root, ignore_errors=True)
