"""Render ``00-multus.conf`` or ``00-multus.conflist`` around the primary CNI config.

Active with ``--multus-conf-file=auto`` (the default). A primary config with
cniVersion 1.0.0 or later gives a ``.conflist``; an earlier or unparsable
version gives a ``.conf``. The sibling with the other extension is removed on
install, because the runtime would load it first.
"""

from __future__ import annotations

import copy
import logging
import os
from pathlib import Path
from typing import Any

from supervisor import DesiredFile, Settings, WaitForInput, hookimpl
from supervisor.install import ensure_directory

from plugins import master, template
from plugins.multus_options import AUTO, conf_dir

log = logging.getLogger(__name__)

CONF_NAME = "00-multus.conf"
CONFLIST_NAME = "00-multus.conflist"
DEFAULT_NETWORK_NAME = "multus-cni-network"


def build_plugin_config(settings: Settings, primary: master.Master) -> dict[str, Any]:
    """Return the multus plugin's keys in the entrypoint's order."""
    delegate = copy.deepcopy(primary.document)
    if settings.force_cni_version or "cniVersion" not in delegate or delegate["cniVersion"] == "":
        delegate["cniVersion"] = primary.cni_version
    plugin: dict[str, Any] = {"type": "multus"}
    if primary.capabilities:
        plugin["capabilities"] = dict(sorted(primary.capabilities.items()))
    if settings.namespace_isolation:
        plugin["namespaceIsolation"] = True
    if settings.global_namespaces:
        plugin["globalNamespaces"] = settings.global_namespaces
    if not settings.multus_log_to_stderr:
        plugin["logToStderr"] = False
    if settings.multus_log_level:
        plugin["logLevel"] = settings.multus_log_level
    if settings.multus_log_file:
        plugin["logFile"] = settings.multus_log_file
    if settings.additional_bin_dir:
        plugin["binDir"] = settings.additional_bin_dir
    if settings.multus_cni_conf_dir:
        plugin["confDir"] = settings.multus_cni_conf_dir
    if settings.readiness_indicator_file:
        plugin["readinessindicatorfile"] = settings.readiness_indicator_file
    plugin["kubeconfig"] = settings.multus_kubeconfig_file_host
    plugin["delegates"] = [delegate]
    return plugin


def build_document(settings: Settings, primary: master.Master) -> tuple[dict[str, Any], bool]:
    """Return the multus config document and whether it is a config list."""
    name = primary.document["name"] if settings.override_network_name else DEFAULT_NETWORK_NAME
    plugin = build_plugin_config(settings, primary)
    if master.is_version_1_or_later(primary.cni_version):
        return {"cniVersion": primary.cni_version, "name": name, "plugins": [plugin]}, True
    plugin.pop("type")
    document = {"cniVersion": primary.cni_version, "name": name, "type": "multus", **plugin}
    return document, False


def readiness_paths(settings: Settings) -> list[Path]:
    """Return where the readiness indicator file may be seen from this process.

    The flag contains the path as the multus plugin on the host reads it. In a
    container the host's CNI config directory is mounted elsewhere: its host
    path is the directory of ``--multus-kubeconfig-file-host`` minus
    ``multus.d``, and its path here is ``--cni-conf-dir``. An indicator under
    that host directory is therefore also looked for under ``--cni-conf-dir``.
    """
    if not settings.readiness_indicator_file:
        return []
    given = Path(settings.readiness_indicator_file)
    paths = [given]
    host_conf_dir = Path(settings.multus_kubeconfig_file_host).parent.parent
    if given.is_relative_to(host_conf_dir) and host_conf_dir != conf_dir(settings):
        paths.append(conf_dir(settings) / given.relative_to(host_conf_dir))
    return paths


class MultusConfigPlugin:
    """Renders the multus config and, with ``--rename-conf-file``, renames the primary."""

    def __init__(self) -> None:
        #: Primary config used by the last successful render.
        self.primary_path: Path | None = None
        #: Why that file was chosen.
        self.primary_reason = ""
        #: Primary configs renamed to ``.old`` by this process: new path -> original.
        self.renamed: dict[Path, Path] = {}

    @hookimpl
    def multus_config_watch_paths(self, settings: Settings) -> list[Path]:
        if settings.multus_conf_file != AUTO:
            return []
        paths = [Path(settings.multus_autoconfig_dir)]
        pinned = settings.multus_master_cni_file_name
        if pinned and os.path.isabs(pinned):
            paths.append(Path(pinned).parent)
        paths.extend(path.parent for path in readiness_paths(settings))
        if self.primary_path is not None:
            # A primary config that is a symlink changes where its target lives.
            target = Path(os.path.realpath(self.primary_path))
            if target.parent != self.primary_path.parent:
                paths.append(target.parent)
        return paths

    @hookimpl
    def multus_config_render(self, settings: Settings) -> list[DesiredFile]:
        if settings.multus_conf_file != AUTO:
            return []
        indicators = readiness_paths(settings)
        if indicators and not any(os.path.exists(path) for path in indicators):
            shown = " or ".join(str(path) for path in indicators)
            msg = f"waiting for readiness indicator file {shown} (set by --readiness-indicator-file)"
            raise WaitForInput(msg, path=indicators[0], kind="not-ready")
        primary = master.select_master(settings)
        if primary.path != self.primary_path:
            log.info("Using primary CNI config %s (cniVersion %s; %s)", primary.path, primary.cni_version, primary.reason)
            self.primary_path = primary.path
        self.primary_reason = primary.reason
        document, is_list = build_document(settings, primary)
        directory = conf_dir(settings)
        own, other = (CONFLIST_NAME, CONF_NAME) if is_list else (CONF_NAME, CONFLIST_NAME)
        encoder = template.render_conflist if is_list else template.render_conf
        desired = DesiredFile(
            path=directory / own,
            document=document,
            encoder=encoder,
            mode=0o600,
            # The entrypoint's fixed temporary name is replaced as well.
            replaces=(directory / other, directory / (CONF_NAME + ".new")),
            label="multus config",
        )
        return [desired]

    @hookimpl
    def multus_config_after_install(self, settings: Settings, written: list[DesiredFile]) -> None:
        if settings.multus_conf_file != AUTO:
            return
        if settings.multus_cni_conf_dir:
            ensure_directory(Path(settings.multus_cni_conf_dir))
        if settings.rename_conf_file and self.primary_path is not None:
            self._rename_primary(self.primary_path)

    def _rename_primary(self, path: Path) -> None:
        if path.name.endswith(master.RENAMED_SUFFIX):
            return
        renamed = path.with_name(path.name + master.RENAMED_SUFFIX)
        try:
            os.rename(path, renamed)
        except OSError as error:
            log.error("Cannot rename primary CNI config %s to %s: %s", path, renamed, error.strerror)
            return
        self.renamed[renamed] = path
        self.primary_path = renamed
        log.info("Renamed primary CNI config %s to %s", path, renamed)

    @hookimpl
    def multus_config_describe(self, settings: Settings) -> dict[str, Any]:
        if settings.multus_conf_file != AUTO:
            return {"multus_config_source": settings.multus_conf_file}
        return {
            "primary_config": str(self.primary_path) if self.primary_path else None,
            "primary_config_reason": self.primary_reason or None,
        }

    @hookimpl
    def multus_config_owned_paths(self, settings: Settings) -> list[Path]:
        if settings.multus_conf_file != AUTO:
            return []
        directory = conf_dir(settings)
        # The entrypoint's fixed temporary name goes as well.
        return [directory / CONF_NAME, directory / CONFLIST_NAME, directory / (CONF_NAME + ".new")]

    @hookimpl
    def multus_config_teardown(self, settings: Settings, cleanup: bool) -> None:
        if not cleanup or not settings.rename_conf_file:
            return
        renamed = dict(self.renamed)
        # A process that did not rename the file itself (multus-config cleanup,
        # or a restart after a kill) finds the renamed candidates on disk.
        directory = Path(settings.multus_autoconfig_dir)
        try:
            names = os.listdir(directory)
        except OSError:
            names = []
        for name in names:
            original = name[: -len(master.RENAMED_SUFFIX)]
            if name.endswith(master.RENAMED_SUFFIX) and original.endswith(master.EXTENSIONS):
                renamed.setdefault(directory / name, directory / original)
        for current, original in renamed.items():
            if os.path.lexists(original) or not os.path.lexists(current):
                continue
            try:
                os.rename(current, original)
            except OSError as error:
                log.error("Cannot restore %s to %s: %s", current, original, error.strerror)
                continue
            log.info("Restored primary CNI config %s", original)


plugin = MultusConfigPlugin()
