"""Option values from a TOML file and the environment, and kubeconfig sources for bare metal."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from supervisor import UsageError, core_options, sources
from supervisor.hooks import Hooks, create_plugin_manager
from supervisor.options import build_parser
from tests.support import DATA, atomic_write, read_or_none, wait_until

CALICO = (DATA / "calico.conflist").read_text()


@pytest.fixture
def parser():
    hooks = Hooks(create_plugin_manager(internal=[("core-options", core_options)]))
    return build_parser("multus-config", hooks.add_options)


def parse(parser, tmp_path, file_text, environ, args):
    config = tmp_path / "config.toml"
    config.write_text(file_text)
    args = [f"--config-file={config}", *args]
    sources.apply_defaults(parser, args, environ)
    return parser.parse_args(args)


def test_file_sets_values(parser, tmp_path):
    settings = parse(parser, tmp_path, 'cni-conf-dir = "/from/file"\nnamespace-isolation = true\nresync-interval = 30\n', {}, [])
    assert settings.cni_conf_dir == "/from/file"
    assert settings.namespace_isolation is True
    assert settings.resync_interval == 30.0


def test_environment_beats_file(parser, tmp_path):
    environ = {"MULTUS_CONFIG_CNI_CONF_DIR": "/from/env", "MULTUS_CONFIG_NAMESPACE_ISOLATION": "false"}
    settings = parse(parser, tmp_path, 'cni-conf-dir = "/from/file"\nnamespace-isolation = true\n', environ, [])
    assert settings.cni_conf_dir == "/from/env"
    assert settings.namespace_isolation is False


def test_flag_beats_environment(parser, tmp_path):
    environ = {"MULTUS_CONFIG_CNI_CONF_DIR": "/from/env"}
    settings = parse(parser, tmp_path, 'cni-conf-dir = "/from/file"\n', environ, ["--cni-conf-dir=/from/flag"])
    assert settings.cni_conf_dir == "/from/flag"


def test_defaults_without_sources(parser, tmp_path):
    settings = parse(parser, tmp_path, "", {}, [])
    assert settings.cni_conf_dir == "/host/etc/cni/net.d"


def test_unknown_key_rejected(parser, tmp_path):
    with pytest.raises(UsageError, match="unknown key 'cni-conf-dri'"):
        parse(parser, tmp_path, 'cni-conf-dri = "/x"\n', {}, [])


def test_unknown_variable_reported(parser, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text("")
    ignored = sources.apply_defaults(parser, [f"--config-file={config}"], {"MULTUS_CONFIG_CNI_CONF_DRI": "/x"})
    assert ignored == ["MULTUS_CONFIG_CNI_CONF_DRI"]


def test_invalid_file_value_named(parser, tmp_path):
    with pytest.raises(UsageError, match="multus-log-level: invalid value 'info'"):
        parse(parser, tmp_path, 'multus-log-level = "info"\n', {}, [])


def test_invalid_environment_value_named(parser, tmp_path):
    with pytest.raises(UsageError, match="MULTUS_CONFIG_SKIP_CONFIG_WATCH: invalid value 'maybe'"):
        parse(parser, tmp_path, "", {"MULTUS_CONFIG_SKIP_CONFIG_WATCH": "maybe"}, [])


def test_broken_toml_rejected(parser, tmp_path):
    with pytest.raises(UsageError, match="cannot read configuration file"):
        parse(parser, tmp_path, "cni-conf-dir = \n", {}, [])


def test_missing_explicit_file_rejected(parser, tmp_path):
    with pytest.raises(UsageError, match="configuration file not found"):
        sources.apply_defaults(parser, [f"--config-file={tmp_path / 'absent.toml'}"], {})


def test_file_drives_real_run(node, start_supervisor, tmp_path):
    (node.conf / "10-calico.conflist").write_text(CALICO)
    config = tmp_path / "config.toml"
    flags = node.flags()
    lines = [f'{flag[2:].split("=", 1)[0]} = "{flag.split("=", 1)[1]}"' for flag in flags if "=" in flag]
    lines.append("skip-multus-binary-copy = true")
    lines.append('multus-log-level = "DEBUG"')
    config.write_text("\n".join(lines) + "\n")
    supervisor = start_supervisor(f"--config-file={config}")
    assert wait_until(node.multus_conf.exists)
    assert json.loads(node.multus_conf.read_text())["logLevel"] == "debug"
    assert supervisor.stop() == 0


def test_kubeconfig_file_copied_and_synced(node, start_supervisor, tmp_path):
    (node.conf / "10-calico.conflist").write_text(CALICO)
    given = tmp_path / "admin" / "kubeconfig"
    given.parent.mkdir()
    given.write_text("apiVersion: v1\nkind: Config\n# version 1\n")
    supervisor = start_supervisor(*node.flags(f"--kubeconfig-file={given}"), env={"KUBERNETES_SERVICE_HOST": "", "KUBERNETES_SERVICE_PORT": ""})
    assert wait_until(lambda: read_or_none(node.kubeconfig) == given.read_bytes())
    atomic_write(given, "apiVersion: v1\nkind: Config\n# version 2\n")
    assert wait_until(lambda: b"version 2" in node.kubeconfig.read_bytes())
    assert node.kubeconfig.stat().st_mode & 0o777 == 0o600
    assert supervisor.stop() == 0


def test_kubeconfig_file_referenced(node, start_supervisor, tmp_path):
    (node.conf / "10-calico.conflist").write_text(CALICO)
    given = tmp_path / "kubeconfig"
    given.write_text("apiVersion: v1\n")
    supervisor = start_supervisor(*node.flags(f"--kubeconfig-file={given}", "--kubeconfig-file-mode=reference"))
    assert wait_until(node.multus_conf.exists)
    assert json.loads(node.multus_conf.read_text())["kubeconfig"] == str(given)
    assert not node.kubeconfig.exists()
    assert supervisor.stop() == 0


def test_explicit_token_ca_and_server(node, start_supervisor, tmp_path):
    (node.conf / "10-calico.conflist").write_text(CALICO)
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "multus.token").write_text("explicit-token-0123456789\n")
    (secrets / "api-ca.pem").write_bytes((DATA / "ca.crt").read_bytes())
    flags = node.flags(
        "--api-server=https://192.0.2.10:6443",
        f"--token-file={secrets / 'multus.token'}",
        f"--ca-file={secrets / 'api-ca.pem'}",
    )
    supervisor = start_supervisor(*flags, env={"KUBERNETES_SERVICE_HOST": "", "KUBERNETES_SERVICE_PORT": ""})
    assert wait_until(node.kubeconfig.exists)
    text = node.kubeconfig.read_text()
    assert "    server: https://192.0.2.10:6443\n" in text
    assert '    token: "explicit-token-0123456789"\n' in text
    assert supervisor.stop() == 0


def test_invalid_api_server_exits_2(node):
    result = subprocess.run(
        [sys.executable, "-m", "supervisor", *node.flags("--api-server=10.0.0.1:6443")],
        capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 2
    assert "--api-server='10.0.0.1:6443' is not an http or https URL" in result.stderr
