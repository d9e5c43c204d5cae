#!/usr/bin/env bash
# Install or remove multus-config on a bare-metal node, as root.
#
#   install.sh [--root DIR] [--source PATH] [--multus-binary PATH] [--no-enable]
#   install.sh --uninstall [--root DIR] [--purge]
#
# Installing creates the virtual environment /opt/multus-config with the project
# (from --source: a wheel or a source tree, by default this repository). It copies
# the multus CNI binary to /opt/multus-config/libexec/multus when --multus-binary
# is given. It installs multus-config.service, a commented
# /etc/multus-config/config.toml and /etc/default/multus-config, keeping existing
# configuration files. Then it reloads systemd and enables the service. --root installs below DIR instead of /,
# for staging an image; systemctl is then skipped.
#
# Uninstalling stops and disables the service, runs the supervisor's cleanup (the
# service's stop removes 00-multus.conf and the kubeconfig when
# --cleanup-config-on-exit is set), and removes the unit and /opt/multus-config.
# --purge also removes /etc/multus-config and /etc/default/multus-config.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repository=$(cd "$here/../.." && pwd)
root=/
source_path=$repository
multus_binary=
enable=yes
action=install
purge=no

while [ $# -gt 0 ]; do
    case $1 in
        --root) root=$2; shift 2 ;;
        --source) source_path=$2; shift 2 ;;
        --multus-binary) multus_binary=$2; shift 2 ;;
        --no-enable) enable=no; shift ;;
        --uninstall) action=uninstall; shift ;;
        --purge) purge=yes; shift ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) echo "install.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done

prefix=${root%/}/opt/multus-config
unit_dir=${root%/}/etc/systemd/system
config_dir=${root%/}/etc/multus-config
defaults=${root%/}/etc/default/multus-config
use_systemctl=no
if [ "$root" = / ] && [ -d /run/systemd/system ]; then
    use_systemctl=yes
fi

step() { printf '== %s\n' "$*"; }

install_files() {
    step "creating the virtual environment $prefix"
    python3 -m venv "$prefix"
    "$prefix/bin/python" -m pip install --quiet --upgrade pip
    step "installing multus-config from $source_path"
    if python3 -c 'import systemd.journal' 2>/dev/null || [ -e /usr/include/systemd/sd-journal.h ]; then
        "$prefix/bin/python" -m pip install --quiet "$source_path[systemd]"
    else
        "$prefix/bin/python" -m pip install --quiet "$source_path"
    fi
    "$prefix/bin/multus-config" --help >/dev/null

    install -d -m 0755 "$prefix/libexec"
    if [ -n "$multus_binary" ]; then
        step "copying the multus CNI binary from $multus_binary"
        install -m 0755 "$multus_binary" "$prefix/libexec/multus"
    fi

    step "installing the unit in $unit_dir"
    install -d -m 0755 "$unit_dir" "$config_dir" "$(dirname "$defaults")"
    install -m 0644 "$repository/multus-config.service" "$unit_dir/multus-config.service"
    if [ ! -e "$config_dir/config.toml" ]; then
        install -m 0644 "$here/config.toml" "$config_dir/config.toml"
    fi
    if [ ! -e "$defaults" ]; then
        install -m 0644 "$here/default" "$defaults"
    fi

    if [ "$use_systemctl" = yes ]; then
        systemctl daemon-reload
        if [ "$enable" = yes ]; then
            step "enabling multus-config.service"
            systemctl enable multus-config.service
        fi
    fi
    step "installed; edit $config_dir/config.toml and $defaults, then: systemctl start multus-config"
}

uninstall_files() {
    if [ "$use_systemctl" = yes ] && systemctl cat multus-config.service >/dev/null 2>&1; then
        step "stopping and disabling multus-config.service"
        systemctl disable --now multus-config.service || true
    fi
    step "removing $unit_dir/multus-config.service and $prefix"
    rm -f "$unit_dir/multus-config.service"
    rm -rf "$prefix"
    if [ "$purge" = yes ]; then
        step "removing $config_dir and $defaults"
        rm -rf "$config_dir" "$defaults"
    fi
    if [ "$use_systemctl" = yes ]; then
        systemctl daemon-reload
    fi
    step "uninstalled"
}

if [ "$action" = install ]; then
    install_files
else
    uninstall_files
fi
