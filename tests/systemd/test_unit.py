"""multus-config.service under a real systemd 252 booted as PID 1 of new namespaces.

Each test boots its own container (see ``container.py``) from a seed with the
unit file, /etc/default/multus-config and a bare-metal node layout, and shuts
it down afterwards.
"""

from __future__ import annotations

import importlib.util
import json
import re
import stat
import time

import pytest

from supervisor.logs import FIELD_ERROR_KIND, FIELD_FILE, FIELD_HASH, FIELD_STATE
from supervisor.machine import STATES
from tests.systemd.conftest import (
    CONFIG_FILE,
    PACKAGED_CONFIG,
    BINARY_CONTENT,
    CONF_DIR,
    HANG_PLUGIN_DIR,
    KUBERNETES_ENV,
    KUBECONFIG,
    MULTUS_BINARY,
    MULTUS_CONF,
    NODE_DEFAULTS,
    PRIMARY,
    UNIT,
    remove_drop_ins,
    write_defaults,
    write_drop_in,
)
from tests.systemd.container import SystemdContainer, unit_messages, wait_until
from tests.support import DATA

#: Words a StatusText starts with: the lifecycle states, and ``reloading`` during a SIGHUP.
STATUS_WORDS = (*STATES, "reloading")
MAX_EXPOSURE = 2.0
HANG_TRIGGER = "/run/multus-config-test-hang"


def state_of(container: SystemdContainer) -> str:
    return container.show(UNIT, "StatusText")["StatusText"].split(":", 1)[0]


def start(container: SystemdContainer) -> dict[str, str]:
    """Start the unit, wait for the steady state and return its properties."""
    container.systemctl("start", UNIT, timeout=60)
    assert wait_until(lambda: state_of(container) == "steady"), container.show(UNIT, "StatusText")
    return container.show(UNIT, "ActiveState", "SubState", "MainPID", "NRestarts", "StatusText")


def product_entries(container: SystemdContainer) -> list[dict[str, object]]:
    """Return the journal entries that the supervisor itself wrote."""
    return [entry for entry in container.journal(UNIT) if entry.get("SYSLOG_IDENTIFIER") == "multus-config"]


def journal_has(container: SystemdContainer, text: str) -> bool:
    return any(text in message for message in unit_messages(container.journal(UNIT)))


def boot_without_primary(container: SystemdContainer, *service_lines: str) -> None:
    container.seed.remove(PRIMARY)
    if service_lines:
        write_drop_in(container.seed, *service_lines)
    container.boot()
    container.systemctl("start", "--no-block", UNIT)


# -- the unit file ----------------------------------------------------------------------


def test_verify_reports_nothing(container):
    remove_drop_ins(container.seed)
    container.boot()
    result = container.run("systemd-analyze", "verify", f"/etc/systemd/system/{UNIT}", check=False)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout == ""


def test_security_exposure_at_most_two(container):
    remove_drop_ins(container.seed)
    container.boot()
    result = container.run("systemd-analyze", "security", "--no-pager", UNIT, check=False)
    assert result.returncode == 0, result.stderr
    match = re.search(rf"Overall exposure level for {re.escape(UNIT)}: (\d+\.\d+)", result.stdout)
    assert match, result.stdout
    exposure = float(match.group(1))
    print(f"exposure of {UNIT}: {exposure}")
    assert exposure <= MAX_EXPOSURE, result.stdout


def test_unit_ordering(container):
    remove_drop_ins(container.seed)
    container.boot()
    properties = container.show(UNIT, "Type", "NotifyAccess", "Before", "After")
    assert properties["Type"] == "notify"
    assert properties["NotifyAccess"] == "main"
    before = properties["Before"].split()
    after = properties["After"].split()
    for unit in ("kubelet.service", "containerd.service", "crio.service"):
        assert unit in before
    assert "local-fs.target" in after
    assert "network-online.target" not in after


# -- start, reload, stop ----------------------------------------------------------------


def test_start_returns_after_install(container):
    container.boot()
    container.systemctl("start", UNIT, timeout=60)

    # systemctl start returns after READY=1, so the files are there at once.
    multus_conf = container.path(MULTUS_CONF)
    kubeconfig = container.path(KUBECONFIG)
    binary = container.path(MULTUS_BINARY)
    assert multus_conf.is_file()
    assert kubeconfig.is_file()
    assert binary.is_file()
    properties = container.show(UNIT, "ActiveState", "SubState", "StatusText", "WatchdogUSec")
    assert properties["ActiveState"] == "active"
    assert properties["SubState"] == "running"
    assert properties["WatchdogUSec"] == "30s"
    assert properties["StatusText"].split(":", 1)[0] in STATUS_WORDS, properties
    assert wait_until(lambda: state_of(container) == "steady"), container.show(UNIT, "StatusText")

    assert stat.S_IMODE(multus_conf.stat().st_mode) == 0o600
    assert stat.S_IMODE(kubeconfig.stat().st_mode) == 0o600
    assert stat.S_IMODE(binary.stat().st_mode) == 0o755
    assert binary.read_bytes() == BINARY_CONTENT
    document = json.loads(multus_conf.read_text())
    primary = json.loads((DATA / "calico.conflist").read_text())
    assert document["kubeconfig"] == KUBECONFIG
    assert document["delegates"][0]["name"] == primary["name"]
    assert "server: https://127.0.0.1:6443" in kubeconfig.read_text()


def test_packaged_config_file_installs_files(container):
    # Without MULTUS_CONFIG_ARGS the packaged /etc/multus-config/config.toml
    # supplies the bare-metal paths.
    write_defaults(container.seed, KUBERNETES_ENV)
    container.seed.write(CONFIG_FILE, PACKAGED_CONFIG.read_text())
    container.boot()

    start(container)

    assert container.path(MULTUS_CONF).is_file()
    assert container.path(KUBECONFIG).is_file()
    assert container.path(MULTUS_BINARY).read_bytes() == BINARY_CONTENT
    container.systemctl("stop", UNIT)
    assert not container.path(MULTUS_CONF).exists()


def test_usage_error_not_restarted(container):
    write_defaults(container.seed, {"MULTUS_CONFIG_ARGS": NODE_DEFAULTS["MULTUS_CONFIG_ARGS"]})
    container.boot()

    result = container.systemctl("start", UNIT, check=False)

    assert result.returncode != 0
    properties = container.show(UNIT, "ActiveState", "Result", "ExecMainStatus")
    assert properties["ActiveState"] == "failed"
    assert properties["Result"] == "exit-code"
    assert properties["ExecMainStatus"] == "2"
    # RestartPreventExitStatus=2: no restart follows, not even after RestartSec=2s.
    time.sleep(3)
    assert container.show(UNIT, "NRestarts")["NRestarts"] == "0"
    assert container.show(UNIT, "ActiveState")["ActiveState"] == "failed"
    assert journal_has(container, "KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set")


def test_reload_renders_again(container):
    container.boot()
    before = start(container)
    # At debug level PID 1 logs every sd_notify message it receives.
    container.run("systemd-analyze", "log-level", "debug")

    container.systemctl("reload", UNIT)

    def reloaded() -> bool:
        messages = unit_messages(container.journal(UNIT))
        notifications = [message for message in messages if "Got notification message" in message]
        reloading = [index for index, message in enumerate(notifications) if "RELOADING=1" in message]
        return bool(reloading) and any("READY=1" in message for message in notifications[reloading[-1] :])

    assert wait_until(reloaded), unit_messages(container.journal(UNIT))[-20:]
    assert wait_until(lambda: container.show(UNIT, "ActiveState")["ActiveState"] == "active")
    # The supervisor's stderr reaches the journal on its own stream, so its
    # line may arrive after PID 1's notification lines.
    assert wait_until(lambda: journal_has(container, "SIGHUP received; rendering every file again"))
    after = container.show(UNIT, "MainPID", "NRestarts", "StatusText")
    assert after["MainPID"] == before["MainPID"]
    assert after["NRestarts"] == "0"
    assert "reloaded" in after["StatusText"], after
    assert container.path(MULTUS_CONF).is_file()


def test_stop_removes_owned_files(container):
    container.seed.keep_loaded(UNIT)
    container.boot()
    start(container)
    assert container.path(MULTUS_CONF).is_file()

    container.systemctl("stop", UNIT)

    properties = container.show(UNIT, "ActiveState", "Result", "ExecMainCode", "ExecMainStatus")
    assert properties["ActiveState"] == "inactive"
    assert properties["Result"] == "success"
    # ExecMainCode 1 is CLD_EXITED: the process exited by itself, with status 0.
    assert properties["ExecMainCode"] == "1"
    assert properties["ExecMainStatus"] == "0"
    assert not container.path(MULTUS_CONF).exists()
    assert not container.path(KUBECONFIG).exists()
    assert container.path(PRIMARY).is_file()
    assert journal_has(container, "Received SIGTERM; stopping")
    assert journal_has(container, "Deactivated successfully")


# -- waiting and failure ----------------------------------------------------------------


def test_waiting_status_names_input(container):
    boot_without_primary(container)

    def status() -> str:
        return container.show(UNIT, "StatusText")["StatusText"]

    # The supervisor logs the reason before it sends the status, and both stay
    # until the input changes.
    assert wait_until(lambda: journal_has(container, "Cannot render"))
    assert wait_until(lambda: "primary CNI config not found" in status(), timeout=10), status()
    assert status().startswith("init:"), status()
    assert CONF_DIR in status()
    assert container.show(UNIT, "ActiveState")["ActiveState"] == "activating"


def test_waits_for_primary_config(container):
    start_timeout = 3
    boot_without_primary(container, f"TimeoutStartSec={start_timeout}s")
    assert wait_until(lambda: journal_has(container, "Cannot render"))

    # EXTEND_TIMEOUT_USEC keeps the start job alive past TimeoutStartSec.
    deadline = time.monotonic() + start_timeout + 2
    while time.monotonic() < deadline:
        properties = container.show(UNIT, "ActiveState", "SubState")
        assert properties["ActiveState"] == "activating", properties
        time.sleep(0.25)
    assert not container.path(MULTUS_CONF).exists()

    container.write_atomic(PRIMARY, (DATA / "calico.conflist").read_text())

    assert wait_until(lambda: container.show(UNIT, "ActiveState")["ActiveState"] == "active")
    assert container.path(MULTUS_CONF).is_file()
    assert container.show(UNIT, "NRestarts")["NRestarts"] == "0"


def test_watchdog_restarts_hung_loop(container):
    test_plugin = {"PYTHONPATH": str(HANG_PLUGIN_DIR), "MULTUS_CONFIG_TEST_HANG_FILE": HANG_TRIGGER}
    write_defaults(container.seed, {**NODE_DEFAULTS, **test_plugin})
    write_drop_in(container.seed, "WatchdogSec=3s")
    container.boot()
    before = start(container)
    assert journal_has(container, "test-hang"), "the test plugin was not loaded"

    # The trigger makes the next render block. Rewriting the primary config
    # wakes the main loop for that render.
    container.path(HANG_TRIGGER).write_text("")
    container.write_atomic(PRIMARY, (DATA / "calico.conflist").read_text())

    assert wait_until(lambda: journal_has(container, "Watchdog timeout")), unit_messages(container.journal(UNIT))[-20:]
    # systemd logs the result a moment after the timeout line.
    assert wait_until(lambda: journal_has(container, "Failed with result 'watchdog'"))
    container.path(HANG_TRIGGER).unlink()

    def restarted() -> bool:
        properties = container.show(UNIT, "ActiveState", "NRestarts")
        return properties["ActiveState"] == "active" and int(properties["NRestarts"]) >= 1

    assert wait_until(restarted), container.show(UNIT, "ActiveState", "SubState", "NRestarts", "StatusText")
    after = container.show(UNIT, "MainPID")
    assert after["MainPID"] != before["MainPID"]
    assert container.path(MULTUS_CONF).is_file()


# -- journal ----------------------------------------------------------------------------


def test_journal_has_supervisor_log(container):
    container.boot()
    start(container)

    entries = product_entries(container)
    messages = unit_messages(entries)
    assert any("Starting multus-config" in message for message in messages), messages
    assert any(f"Installed multus config {MULTUS_CONF}" in message for message in messages), messages
    for entry in entries:
        assert entry.get("_SYSTEMD_UNIT") == UNIT, entry


@pytest.mark.skipif(
    importlib.util.find_spec("systemd.journal") is None,
    reason="systemd-python is not installed, so the log reaches the journal as plain lines",
)
def test_journal_structured_fields(container):
    boot_without_primary(container)
    assert wait_until(lambda: journal_has(container, "Cannot render"))
    container.write_atomic(PRIMARY, (DATA / "calico.conflist").read_text())
    assert wait_until(lambda: state_of(container) == "steady"), container.show(UNIT, "StatusText")

    entries = product_entries(container)
    assert entries
    for entry in entries:
        assert str(entry.get("LOGGER", "")).startswith(("supervisor.", "plugins.")), entry
        assert entry.get(FIELD_STATE) in STATES, entry
    waiting = [entry for entry in entries if "Cannot render" in str(entry.get("MESSAGE"))]
    assert waiting, unit_messages(entries)
    assert waiting[0].get(FIELD_ERROR_KIND) == "master-not-found", waiting[0]
    assert waiting[0].get(FIELD_FILE) == CONF_DIR, waiting[0]
    assert waiting[0].get("PRIORITY") == "4", waiting[0]
    installed = [entry for entry in entries if entry.get(FIELD_FILE) == MULTUS_CONF]
    assert installed, unit_messages(entries)
    assert re.fullmatch(r"[0-9a-f]{64}", str(installed[0].get(FIELD_HASH))), installed[0]
    assert installed[0].get("PRIORITY") == "6", installed[0]
