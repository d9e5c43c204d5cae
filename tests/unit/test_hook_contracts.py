"""One test per hook, each through a plugin registered the way a third party's is."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from supervisor import DesiredFile, UsageError, WaitForInput, hookimpl
from supervisor.hooks import RenderFailed
from supervisor.machine import Lifecycle, TransitionInfo

BRIDGE = {"cniVersion": "1.0.0", "name": "net", "type": "bridge"}
CA = "-----BEGIN CERTIFICATE-----\nQUJD\n-----END CERTIFICATE-----\n"


@pytest.fixture
def node_flags(tmp_path):
    conf = tmp_path / "net.d"
    account = tmp_path / "sa"
    conf.mkdir()
    account.mkdir()
    (conf / "10-net.conf").write_text(json.dumps(BRIDGE))
    (account / "token").write_text("token")
    (account / "ca.crt").write_text(CA)
    return [
        f"--cni-conf-dir={conf}", f"--multus-autoconfig-dir={conf}",
        f"--service-account-dir={account}", "--skip-multus-binary-copy",
    ]


def register(hooks, plugin, name="third-party"):
    hooks._manager.register(plugin, name=name)


class SiteOption:
    @hookimpl
    def multus_config_add_options(self, options):
        options.add_string("--site-label", default="none", help="label for this site")

    @hookimpl
    def multus_config_validate_settings(self, settings):
        if settings.site_label == "bad":
            raise UsageError("--site-label='bad' is not allowed (use any other word)")


def test_hook_add_options(hooks, parse, node_flags):
    register(hooks, SiteOption())
    assert parse(*node_flags, "--site-label=rack-7").site_label == "rack-7"


def test_hook_validate_settings(hooks, parse, node_flags):
    register(hooks, SiteOption())
    with pytest.raises(UsageError, match="--site-label='bad'"):
        parse(*node_flags, "--site-label=bad")


def test_hook_watch_paths(hooks, parse, node_flags, tmp_path):
    class Watches:
        @hookimpl
        def multus_config_watch_paths(self, settings):
            return [tmp_path / "extra"]

    register(hooks, Watches())
    paths = hooks.watch_paths(parse(*node_flags))
    assert tmp_path / "extra" in paths
    assert tmp_path / "sa" in paths


def test_hook_render(hooks, parse, node_flags, tmp_path):
    class ExtraFile:
        @hookimpl
        def multus_config_render(self, settings):
            return [DesiredFile(path=tmp_path / "extra.conf.d" / "note", content=b"hello\n", mode=0o644)]

    register(hooks, ExtraFile())
    lifecycle = Lifecycle(hooks, parse(*node_flags))
    lifecycle.render()
    note = tmp_path / "extra.conf.d" / "note"
    assert note.read_bytes() == b"hello\n"
    assert note.stat().st_mode & 0o777 == 0o644


def test_hook_modify_document(hooks, parse, node_flags, tmp_path):
    class Chains:
        @hookimpl
        def multus_config_modify_document(self, desired, document):
            document["plugins"].append({"type": "sbr"})

    register(hooks, Chains())
    Lifecycle(hooks, parse(*node_flags)).render()
    document = json.loads((tmp_path / "net.d" / "00-multus.conflist").read_text())
    assert [plugin["type"] for plugin in document["plugins"]] == ["multus", "sbr"]


def test_hook_modify_document_rejection_keeps_files(hooks, parse, node_flags, tmp_path):
    lifecycle = Lifecycle(hooks, parse(*node_flags))
    lifecycle.render()
    output = tmp_path / "net.d" / "00-multus.conflist"
    good = output.read_bytes()

    class Rejects:
        @hookimpl
        def multus_config_modify_document(self, document):
            raise WaitForInput("policy rejects this render", kind="policy")

    register(hooks, Rejects())
    (tmp_path / "net.d" / "10-net.conf").write_text(json.dumps({**BRIDGE, "name": "changed"}))
    lifecycle.render()
    assert output.read_bytes() == good
    assert lifecycle.last_render_failed


def test_hook_compare(hooks, parse, node_flags, tmp_path):
    class IgnoresWhitespace:
        @hookimpl(tryfirst=True)
        def multus_config_compare(self, desired, current):
            return b"".join(current.split()) == b"".join(desired.encoded().split())

    register(hooks, IgnoresWhitespace())
    lifecycle = Lifecycle(hooks, parse(*node_flags))
    lifecycle.render()
    output = tmp_path / "net.d" / "00-multus.conflist"
    output.write_bytes(output.read_bytes().replace(b"    ", b"  "))
    reformatted = output.read_bytes()
    lifecycle.render()
    assert output.read_bytes() == reformatted


def test_hook_after_install(hooks, parse, node_flags):
    seen: list[list[str]] = []

    class Records:
        @hookimpl
        def multus_config_after_install(self, written):
            seen.append(sorted(item.path.name for item in written))

    register(hooks, Records())
    lifecycle = Lifecycle(hooks, parse(*node_flags))
    lifecycle.render()
    lifecycle.render()
    assert seen == [["00-multus.conflist", "multus.kubeconfig"]]


def test_hook_owned_paths(hooks, parse, node_flags, tmp_path):
    owned = tmp_path / "net.d" / "99-site.conf"
    owned.write_text("{}")

    class Owns:
        @hookimpl
        def multus_config_owned_paths(self):
            return [owned]

    register(hooks, Owns())
    lifecycle = Lifecycle(hooks, parse(*node_flags, "--cleanup-config-on-exit"))
    lifecycle.render()
    lifecycle.drain()
    lifecycle.cleanup()
    assert not owned.exists()
    assert not (tmp_path / "net.d" / "00-multus.conflist").exists()


def test_hook_teardown(hooks, parse, node_flags):
    calls: list[bool] = []

    class TearsDown:
        @hookimpl
        def multus_config_teardown(self, cleanup):
            calls.append(cleanup)

    register(hooks, TearsDown())
    lifecycle = Lifecycle(hooks, parse(*node_flags))
    lifecycle.render()
    lifecycle.drain()
    lifecycle.cleanup()
    assert calls == [False]


def test_hook_describe(hooks, parse, node_flags, tmp_path):
    class Describes:
        @hookimpl
        def multus_config_describe(self):
            return {"site": "rack-7"}

    register(hooks, Describes())
    settings = parse(*node_flags)
    Lifecycle(hooks, settings).render()
    facts = hooks.describe(settings)
    assert facts["site"] == "rack-7"
    assert facts["primary_config"] == str(tmp_path / "net.d" / "10-net.conf")


def test_hook_observe_transition(hooks, parse, node_flags):
    steps: list[tuple[str, str, str]] = []

    class Observes:
        @hookimpl
        def multus_config_observe_transition(self, transition: TransitionInfo):
            steps.append((transition.trigger, transition.source, transition.dest))

    register(hooks, Observes())
    lifecycle = Lifecycle(hooks, parse(*node_flags))
    lifecycle.render()
    lifecycle.render()
    assert steps == [
        ("render", "init", "rendered"),
        ("install", "rendered", "installed"),
        ("settle", "installed", "steady"),
        ("render", "steady", "rendered"),
        ("install", "rendered", "steady"),
    ]


def test_hook_observe_failed_render(hooks, parse, node_flags, tmp_path):
    steps: list[TransitionInfo] = []

    class Observes:
        @hookimpl
        def multus_config_observe_transition(self, transition):
            steps.append(transition)

    register(hooks, Observes())
    (tmp_path / "net.d" / "10-net.conf").unlink()
    Lifecycle(hooks, parse(*node_flags)).render()
    assert [(step.source, step.dest, step.error_kind) for step in steps] == [("init", "init", "master-not-found")]


def test_hook_render_failure_named(hooks, parse, node_flags):
    class Crashes:
        @hookimpl
        def multus_config_render(self):
            raise RuntimeError("boom")

    register(hooks, Crashes(), name="crashes")
    with pytest.raises(RenderFailed, match="plugin 'crashes' failed in render: RuntimeError: boom"):
        hooks.render(parse(*node_flags))


