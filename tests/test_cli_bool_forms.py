"""pflag-style boolean flags: bare, =true, =false and a separate value."""

from __future__ import annotations

import pytest

from supervisor import core_options
from supervisor.hooks import Hooks, create_plugin_manager
from supervisor.options import build_parser


@pytest.fixture
def parser():
    hooks = Hooks(create_plugin_manager(internal=[("core-options", core_options)]))
    return build_parser("multus-config", hooks.add_options)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], False),
        (["--namespace-isolation"], True),
        (["--namespace-isolation=true"], True),
        (["--namespace-isolation=false"], False),
        (["--namespace-isolation", "false"], False),
        (["--namespace-isolation=1"], True),
        (["--namespace-isolation=F"], False),
    ],
)
def test_bool_forms(parser, args, expected):
    assert parser.parse_args(args).namespace_isolation is expected


def test_string_separate_value(parser):
    assert parser.parse_args(["--cni-conf-dir", "/x"]).cni_conf_dir == "/x"


def test_log_level_lowercased(parser):
    assert parser.parse_args(["--multus-log-level=VERBOSE"]).multus_log_level == "verbose"


def test_defaults_match_entrypoint(parser):
    settings = parser.parse_args([])
    assert (settings.cni_bin_dir, settings.cni_conf_dir, settings.multus_autoconfig_dir) == (
        "/host/opt/cni/bin", "/host/etc/cni/net.d", "/host/etc/cni/net.d",
    )
    assert settings.multus_bin_file == "/usr/src/multus-cni/bin/multus"
    assert settings.multus_kubeconfig_file_host == "/etc/cni/net.d/multus.d/multus.kubeconfig"
    assert settings.multus_conf_file == "auto"
    assert settings.multus_log_to_stderr is True
    assert settings.multus_cni_conf_dir == ""
