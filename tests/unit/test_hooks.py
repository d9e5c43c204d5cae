"""Hooks as a third-party plugin uses them."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from plugins import template
from supervisor import DesiredFile, WaitForInput, hookimpl
from supervisor.hooks import RenderFailed

CONFLIST = {"cniVersion": "1.0.0", "name": "net", "plugins": [{"type": "bridge"}]}


@pytest.fixture
def node_flags(tmp_path):
    conf = tmp_path / "net.d"
    sa = tmp_path / "sa"
    conf.mkdir()
    sa.mkdir()
    (conf / "10-net.conflist").write_text(json.dumps(CONFLIST))
    (sa / "token").write_text("t")
    (sa / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n")
    return [f"--cni-conf-dir={conf}", f"--multus-autoconfig-dir={conf}", f"--service-account-dir={sa}", "--skip-multus-binary-copy"]


class ChainTuning:
    @hookimpl
    def multus_config_modify_document(self, desired, document):
        if desired.path.name == "00-multus.conflist":
            document["plugins"].append({"type": "tuning", "sysctl": {"net.core.somaxconn": "500"}})


def test_modify_document_adds_chained_plugin(hooks, parse, node_flags):
    hooks._manager.register(ChainTuning(), name="chain-tuning")
    files = hooks.render(parse(*node_flags))
    conflist = next(item for item in files if item.path.name == "00-multus.conflist")
    plugins = json.loads(conflist.encoded())["plugins"]
    assert [plugin["type"] for plugin in plugins] == ["multus", "tuning"]


def test_render_reports_every_plugin_error(hooks, parse, node_flags, tmp_path):
    (tmp_path / "sa" / "token").unlink()

    class Refuses:
        @hookimpl
        def multus_config_render(self, settings):
            raise WaitForInput("site policy rejects this node", kind="policy")

    hooks._manager.register(Refuses(), name="policy")
    with pytest.raises(RenderFailed) as failure:
        hooks.render(parse(*node_flags))
    kinds = sorted(error.kind for error in failure.value.errors)
    assert kinds == ["missing-file", "policy"]


def test_crashing_plugin_named(hooks, parse, node_flags, caplog):
    class Crashes:
        @hookimpl
        def multus_config_render(self, settings):
            raise KeyError("boom")

    hooks._manager.register(Crashes(), name="crashes")
    with caplog.at_level(logging.ERROR), pytest.raises(RenderFailed, match="plugin 'crashes' failed in render"):
        hooks.render(parse(*node_flags))


def test_comparator_first_result_wins(hooks, parse, node_flags):
    class AlwaysEqual:
        @hookimpl(tryfirst=True)
        def multus_config_compare(self, desired, current):
            return True

    hooks._manager.register(AlwaysEqual(), name="always-equal")
    desired = DesiredFile(path=Path("/x"), content=b"a")
    assert hooks.compare(parse(*node_flags), desired, b"b") is True


def test_default_comparator_uses_sha256(hooks, parse, node_flags):
    desired = DesiredFile(path=Path("/x"), content=b"a")
    assert hooks.compare(parse(*node_flags), desired, b"b") is False


def test_json_comparator_ignores_layout(hooks, parse, node_flags):
    desired = DesiredFile(path=Path("/x"), content=b'{"a": 1, "b": [true]}')
    assert hooks.compare(parse(*node_flags, "--compare=json"), desired, b'{"b":[true],"a":1.0}') is True


def test_json_comparator_distinguishes_bool(hooks, parse, node_flags):
    desired = DesiredFile(path=Path("/x"), content=b'{"a": true}')
    assert hooks.compare(parse(*node_flags, "--compare=json"), desired, b'{"a": 1}') is False


def test_blocked_plugin_not_loaded(monkeypatch):
    from supervisor.hooks import create_plugin_manager

    monkeypatch.setenv("MULTUS_CONFIG_BLOCK_PLUGINS", "multus-binary, comparators")
    names = {name for name, plugin in create_plugin_manager().list_name_plugin() if plugin is not None}
    assert "multus-binary" not in names
    assert "comparators" not in names
    assert "multus-conf" in names


def test_conflist_layout_with_chained_plugin():
    document = {"cniVersion": "1.0.0", "name": "m", "plugins": [{"type": "multus", "kubeconfig": "/k", "delegates": [{"a": 1}]}, {"type": "tuning"}]}
    expected = (
        '{\n    "cniVersion": "1.0.0",\n    "name": "m",\n    "plugins": [ {\n'
        '        "type": "multus",\n        "kubeconfig": "/k",\n        "delegates": [\n'
        '            {"a":1}\n        ]\n    }, {"type":"tuning"}]\n}\n'
    )
    assert template.render_conflist(document).decode() == expected
