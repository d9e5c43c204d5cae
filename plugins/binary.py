"""Copy the multus binary into the CNI binary directory.

The copy goes through the same compare-then-install path as the configs, by
SHA-256 digest, so a restart with an identical binary writes nothing. The
source's digest is cached by its inode, size and change times.
"""

from __future__ import annotations

import os
from pathlib import Path

from supervisor import DesiredFile, Settings, WaitForInput, hookimpl
from supervisor.install import hash_regular_file

BINARY_NAME = "multus"


class BinaryCopyPlugin:
    """Keeps ``<cni-bin-dir>/multus`` equal to ``--multus-bin-file``."""

    def __init__(self) -> None:
        self._cache: tuple[tuple[int, ...], str] | None = None

    def _digest(self, source: Path) -> str:
        try:
            info = os.stat(source)
            signature = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
            if self._cache is not None and self._cache[0] == signature:
                return self._cache[1]
            digest = hash_regular_file(source.resolve())
        except FileNotFoundError:
            msg = f"multus binary not found: {source} (set --multus-bin-file, or --skip-multus-binary-copy)"
            raise WaitForInput(msg, path=source, kind="missing-file") from None
        except OSError as error:
            msg = f"cannot read multus binary {source}: {error.strerror or error}"
            raise WaitForInput(msg, path=source, kind="unreadable") from None
        self._cache = (signature, digest)
        return digest

    @hookimpl
    def multus_config_render(self, settings: Settings) -> list[DesiredFile]:
        if settings.skip_multus_binary_copy:
            return []
        source = Path(settings.multus_bin_file)
        desired = DesiredFile(
            path=Path(settings.cni_bin_dir) / BINARY_NAME,
            source=source,
            digest=self._digest(source),
            mode=0o755,
            label="multus binary",
        )
        return [desired]


plugin = BinaryCopyPlugin()
