"""The built-in comparators: SHA-256 of the bytes, or JSON semantics with ``--compare=json``.

The JSON comparator treats files that differ only in key order, whitespace or
number spelling as equal, so a node whose config another tool reformatted is
not rewritten. Files that are not JSON fall back to the byte comparison.
"""

from __future__ import annotations

import json

from supervisor import DesiredFile, OptionRegistry, Settings, hookimpl
from supervisor.digest import sha256_hex

from plugins.goencode import encode

SECTION = "supervisor"


@hookimpl
def multus_config_add_options(options: OptionRegistry) -> None:
    options.add_choice(
        "--compare",
        choices=("sha256", "json"),
        default="sha256",
        help="how installed files are compared with the rendered ones",
        section=SECTION,
    )


@hookimpl
def multus_config_compare(settings: Settings, desired: DesiredFile, current: bytes) -> bool | None:
    if settings.compare != "json":
        return None
    try:
        wanted = json.loads(desired.encoded())
        found = json.loads(current)
    except (ValueError, RecursionError):
        return None
    # Canonical encodings, because in Python true == 1 and 1 == 1.0.
    return encode(wanted) == encode(found)


@hookimpl(trylast=True, specname="multus_config_compare")
def compare_sha256(settings: Settings, desired: DesiredFile, current: bytes) -> bool:
    return sha256_hex(current) == desired.sha256
