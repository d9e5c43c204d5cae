"""The image build steps, run outside a container.

packaging/Containerfile runs packaging/build-image-root.sh on a wheel built
from the sources. These tests build the wheel with pip, run the script with a
temporary prefix and check that the installed entrypoint works on its own,
without this checkout on the import path. pip fetches the build backend and
the runtime dependencies from the package index.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from supervisor import core_options
from supervisor.hooks import Hooks, create_plugin_manager
from supervisor.options import build_parser

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "packaging" / "build-image-root.sh"
CONTAINERFILE = REPO / "packaging" / "Containerfile"
#: Time limit of one pip or script run, so that a stalled download fails the test.
INSTALL_TIMEOUT = 600


def run_script(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the build script with POSIX sh and the interpreter of this test run."""
    environment = {**os.environ, "PYTHON": sys.executable}
    return subprocess.run(
        ["sh", str(SCRIPT), *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=environment,
        timeout=INSTALL_TIMEOUT,
        check=False,
    )


def run_in(directory: Path, *command: str | Path) -> subprocess.CompletedProcess[str]:
    """Run *command* in *directory*, outside the checkout, so that ``import`` cannot find its sources."""
    return subprocess.run(
        [str(part) for part in command],
        capture_output=True,
        text=True,
        cwd=directory,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("wheel")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--quiet",
            "--wheel-dir",
            str(directory),
            str(REPO),
        ],
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    wheels = list(directory.glob("multus_config-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.fixture(scope="module")
def image_root(wheel, tmp_path_factory) -> Path:
    """Return a directory with the virtual environment ``venv`` and the binary slot ``multus-bin``."""
    root = tmp_path_factory.mktemp("image-root")
    result = run_script(wheel, root / "venv", root / "multus-bin", cwd=root)
    assert result.returncode == 0, result.stdout + result.stderr
    return root


def test_script_creates_entrypoint(image_root):
    entrypoint = image_root / "venv" / "bin" / "multus-config"
    assert entrypoint.is_file()
    assert os.access(entrypoint, os.X_OK)


def test_script_creates_binary_slot(image_root):
    assert (image_root / "multus-bin").is_dir()


def test_entrypoint_help(image_root):
    result = run_in(image_root, image_root / "venv" / "bin" / "multus-config", "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: multus-config")
    assert "--cleanup-config-on-exit" in result.stdout


def test_entrypoint_diagram(image_root):
    result = run_in(
        image_root, image_root / "venv" / "bin" / "multus-config", "diagram"
    )
    assert result.returncode == 0, result.stderr
    assert "stateDiagram-v2" in result.stdout


def test_venv_imports_installed_packages(image_root):
    python = image_root / "venv" / "bin" / "python"
    result = run_in(
        image_root,
        python,
        "-c",
        "import supervisor, plugins; print(supervisor.__file__); print(plugins.__file__)",
    )
    assert result.returncode == 0, result.stderr
    for location in result.stdout.splitlines():
        assert Path(location).is_relative_to(image_root / "venv")


def test_venv_has_no_pip(image_root):
    python = image_root / "venv" / "bin" / "python"
    result = run_in(image_root, python, "-c", "import pip")
    assert result.returncode != 0
    assert "No module named 'pip'" in result.stderr


def test_script_rejects_missing_arguments(tmp_path):
    result = run_script(cwd=tmp_path)
    assert result.returncode == 2
    assert "usage: build-image-root.sh WHEEL PREFIX" in result.stderr


def test_script_rejects_missing_wheel(tmp_path):
    missing = tmp_path / "multus_config-0.1.0-py3-none-any.whl"
    result = run_script(
        missing, tmp_path / "venv", tmp_path / "multus-bin", cwd=tmp_path
    )
    assert result.returncode == 1
    assert f"wheel not found: {missing}" in result.stderr
    assert not (tmp_path / "venv").exists()


def test_script_rejects_non_empty_prefix(tmp_path):
    wheel = tmp_path / "multus_config-0.1.0-py3-none-any.whl"
    wheel.write_bytes(b"")
    prefix = tmp_path / "venv"
    prefix.mkdir()
    (prefix / "leftover").write_text("")
    result = run_script(wheel, prefix, tmp_path / "multus-bin", cwd=tmp_path)
    assert result.returncode == 1
    assert "is not empty" in result.stderr
    assert sorted(path.name for path in prefix.iterdir()) == ["leftover"]


# -- the Containerfile ----------------------------------------------------------------


def test_containerfile_runs_script():
    text = CONTAINERFILE.read_text()
    assert "COPY packaging/build-image-root.sh" in text
    assert re.search(r"^RUN .*sh /tmp/build/build-image-root.sh", text, re.MULTILINE)


def test_containerfile_final_stage_base():
    stages = re.findall(r"^FROM\s+(\S+)", CONTAINERFILE.read_text(), re.MULTILINE)
    default_python = re.search(
        r"^ARG PYTHON_IMAGE=(\S+)$", CONTAINERFILE.read_text(), re.MULTILINE
    )
    assert default_python is not None
    assert default_python.group(1) == "python:3.11-slim-bookworm"
    assert stages[-1] == "${PYTHON_IMAGE}"


def test_containerfile_multus_binary_slot():
    parser = build_parser(
        "multus-config",
        Hooks(
            create_plugin_manager(internal=[("core-options", core_options)])
        ).add_options,
    )
    default_binary = parser.parse_args([]).multus_bin_file
    copy = re.search(
        r"^COPY --from=multus (\S+) (\S+)$", CONTAINERFILE.read_text(), re.MULTILINE
    )
    assert copy is not None
    assert copy.group(2) == default_binary


def test_containerfile_entrypoint_exec_form():
    match = re.search(r"^ENTRYPOINT\s+(.*)$", CONTAINERFILE.read_text(), re.MULTILINE)
    assert match is not None
    assert match.group(1) == '["/opt/multus-config/bin/multus-config"]'
