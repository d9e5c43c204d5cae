#!/bin/sh
# Install multus-config from a wheel into a new virtual environment and create
# the directory that receives the upstream multus binary.
#
# packaging/Containerfile runs this script while building the image, and
# tests/test_packaging.py runs it outside a container with a temporary prefix.
#
# Usage: build-image-root.sh WHEEL PREFIX [MULTUS_BIN_DIR]
#
#   WHEEL           the multus-config wheel to install
#   PREFIX          directory of the new virtual environment. It must be missing
#                   or empty, because a venv cannot be moved after creation.
#   MULTUS_BIN_DIR  directory created for the multus binary. The default is
#                   /usr/src/multus-cni/bin, which contains the default
#                   --multus-bin-file /usr/src/multus-cni/bin/multus.
#
# Environment: PYTHON names the interpreter that creates the venv (default
# python3). pip's own variables, such as PIP_NO_CACHE_DIR, apply as usual.
#
# Exit status: 0 on success, 1 when a step fails, 2 for invalid arguments.
set -eu

program=build-image-root.sh

usage() {
    echo "usage: $program WHEEL PREFIX [MULTUS_BIN_DIR]" >&2
    exit 2
}

fail() {
    echo "$program: $*" >&2
    exit 1
}

if [ "$#" -lt 2 ] || [ "$#" -gt 3 ]; then
    usage
fi

wheel=$1
prefix=$2
multus_bin_dir=${3:-/usr/src/multus-cni/bin}
python=${PYTHON:-python3}

case $wheel in
    *.whl) ;;
    *) fail "invalid wheel path $wheel: the name must end in .whl" ;;
esac
if [ ! -f "$wheel" ]; then
    fail "wheel not found: $wheel"
fi
if [ -e "$prefix" ] && [ -n "$(ls -A "$prefix")" ]; then
    fail "prefix $prefix exists and is not empty: choose a missing or empty directory"
fi

echo "$program: creating virtual environment $prefix with $python"
"$python" -m venv "$prefix" || fail "cannot create the virtual environment $prefix"

echo "$program: installing $wheel"
"$prefix/bin/python" -m pip install --no-input --disable-pip-version-check "$wheel" ||
    fail "cannot install $wheel into $prefix"

# multus-config needs neither pip nor setuptools at run time. Removing them
# keeps the image smaller and leaves no installer inside it.
"$prefix/bin/python" -m pip uninstall --yes --quiet --disable-pip-version-check setuptools pip ||
    fail "cannot remove pip and setuptools from $prefix"

mkdir -p "$multus_bin_dir" || fail "cannot create the multus binary directory $multus_bin_dir"

# The checks run after pip is gone, so they prove the installed files suffice.
"$prefix/bin/multus-config" --help >/dev/null ||
    fail "$prefix/bin/multus-config --help failed"
"$prefix/bin/python" -c 'import supervisor, plugins' ||
    fail "cannot import supervisor and plugins with $prefix/bin/python"

echo "$program: installed $prefix/bin/multus-config; multus binary directory $multus_bin_dir"
