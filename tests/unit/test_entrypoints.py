"""Entry-point discovery from dist-info directories on a search path."""

from __future__ import annotations

from supervisor.entrypoints import entry_points


def write_distribution(root, name, text):
    info = root / f"{name}.dist-info"
    info.mkdir(parents=True)
    (info / "entry_points.txt").write_text(text)


def test_group_entries_found(tmp_path):
    write_distribution(tmp_path, "site_plugin-1.0", "[multus_config]\nsite = site_plugin.hooks:plugin\n\n[console_scripts]\nx = y:z\n")
    found = list(entry_points("multus_config", [str(tmp_path)]))
    assert [(point.name, point.value, point.distribution) for point in found] == [("site", "site_plugin.hooks:plugin", "site_plugin")]


def test_first_distribution_on_path_wins(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    write_distribution(first, "Site.Plugin-2.0", "[multus_config]\nsite = new:plugin\n")
    write_distribution(second, "site_plugin-1.0", "[multus_config]\nsite = old:plugin\n")
    found = list(entry_points("multus_config", [str(first), str(second)]))
    assert [point.value for point in found] == ["new:plugin"]


def test_broken_file_skipped(tmp_path):
    write_distribution(tmp_path, "broken-1.0", "no section header\n")
    write_distribution(tmp_path, "good-1.0", "[multus_config]\ngood = json\n")
    found = list(entry_points("multus_config", [str(tmp_path)]))
    assert [point.name for point in found] == ["good"]


def test_load_module_and_attribute(tmp_path):
    write_distribution(tmp_path, "x-1.0", "[multus_config]\nmodule = json\nattribute = json:dumps [extra]\n")
    loaded = {point.name: point.load() for point in entry_points("multus_config", [str(tmp_path)])}
    import json

    assert loaded == {"module": json, "attribute": json.dumps}


def test_installed_plugins_found():
    names = {point.name for point in entry_points("multus_config")}
    assert {"multus-conf", "kubeconfig", "multus-binary", "comparators", "metrics"} <= names
