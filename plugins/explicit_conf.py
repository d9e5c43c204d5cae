"""Install a given Multus config (``--multus-conf-file=PATH``) and keep it equal to its source.

The bytes are copied as they are, but only once they parse as a JSON object,
so a half-written or broken source never replaces a working config. The copy
is mode 0600 whatever the source's mode.
"""

from __future__ import annotations

from pathlib import Path

from supervisor import DesiredFile, Settings, hookimpl

from plugins import inputs
from plugins.multus_options import AUTO, conf_dir

WHAT = "Multus config given by --multus-conf-file"


def _target(settings: Settings) -> Path:
    return conf_dir(settings) / Path(settings.multus_conf_file).name


@hookimpl
def multus_config_watch_paths(settings: Settings) -> list[Path]:
    if settings.multus_conf_file == AUTO:
        return []
    return [Path(settings.multus_conf_file).parent]


@hookimpl
def multus_config_render(settings: Settings) -> list[DesiredFile]:
    if settings.multus_conf_file == AUTO:
        return []
    source = Path(settings.multus_conf_file)
    content = inputs.read_file(source, WHAT)
    inputs.parse_json_object(content, source, WHAT)
    return [DesiredFile(path=_target(settings), content=content, mode=0o600, label="multus config")]


@hookimpl
def multus_config_owned_paths(settings: Settings) -> list[Path]:
    if settings.multus_conf_file == AUTO:
        return []
    return [_target(settings)]
