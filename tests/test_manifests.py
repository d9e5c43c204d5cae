"""The Kubernetes manifests in packaging/kubernetes: schema validation and the deployment's facts.

Every document is validated offline against the Kubernetes JSON schemas that
the ``kubernetes-validate`` package bundles, in strict mode, which rejects
fields the schema does not define. The remaining tests parse the YAML and
check what the deployment relies on. The container runs multus-config with
flags that its own parser accepts, and the host directories are mounted under
/host. Only the cleanup DaemonSet removes the config on exit. The readiness
probes are run against the state file of a real supervisor.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from supervisor import core_options
from supervisor.hooks import Hooks, create_plugin_manager
from supervisor.options import build_parser
from tests.support import CASES, KUBERNETES_ENV, wait_until

REPO = Path(__file__).resolve().parents[1]
KUBERNETES = REPO / "packaging" / "kubernetes"
MAIN = KUBERNETES / "multus-daemonset.yaml"
CLEANUP = KUBERNETES / "multus-cleanup-daemonset.yaml"
MANIFESTS = [MAIN, CLEANUP]
CONTAINERFILE = REPO / "packaging" / "Containerfile"
#: Kubernetes releases to validate against: a fixed one, so that a newer
#: validator cannot change what is checked, and the newest one that the
#: installed validator bundles.
KUBERNETES_VERSIONS = ["1.33", kubernetes_validate.latest_version()]
#: Flags the cleanup DaemonSet adds to the main DaemonSet's arguments.
CLEANUP_FLAGS = ["--cleanup-config-on-exit", "--skip-multus-binary-copy"]
HOST_PREFIX = "/host"


def load_documents(path: Path) -> list[dict[str, Any]]:
    """Return the non-empty YAML documents of *path*."""
    return [document for document in yaml.safe_load_all(path.read_text()) if document]


def find(documents: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    matches = [
        doc
        for doc in documents
        if doc["kind"] == kind and doc["metadata"]["name"] == name
    ]
    assert len(matches) == 1, f"expected one {kind} {name}, found {len(matches)}"
    return matches[0]


def daemonset(path: Path) -> dict[str, Any]:
    """Return the only DaemonSet in *path*."""
    found = [doc for doc in load_documents(path) if doc["kind"] == "DaemonSet"]
    assert len(found) == 1, f"expected one DaemonSet in {path.name}, found {len(found)}"
    return found[0]


def pod_spec(path: Path) -> dict[str, Any]:
    return daemonset(path)["spec"]["template"]["spec"]


def container(path: Path) -> dict[str, Any]:
    """Return the only container of the DaemonSet in *path*."""
    containers = pod_spec(path)["containers"]
    assert len(containers) == 1, (
        f"expected one container in {path.name}, found {len(containers)}"
    )
    return containers[0]


def parse_flags(args: list[str]):
    """Parse *args* with multus-config's own parser, as the container's command would."""
    hooks = Hooks(create_plugin_manager(internal=[("core-options", core_options)]))
    settings = build_parser("multus-config", hooks.add_options).parse_args(args)
    hooks.validate_settings(settings)
    return settings


def granted_verbs(role: dict[str, Any], group: str, resource: str) -> set[str]:
    """Return the verbs that *role* grants on *resource* of API group *group*."""
    verbs: set[str] = set()
    for rule in role["rules"]:
        if group in rule.get("apiGroups", []) and resource in rule.get("resources", []):
            verbs.update(rule["verbs"])
    return verbs


def containerfile_entrypoint() -> list[str]:
    """Return the exec-form ENTRYPOINT of packaging/Containerfile."""
    match = re.search(
        r"^ENTRYPOINT\s+(\[.*\])\s*$", CONTAINERFILE.read_text(), re.MULTILINE
    )
    assert match is not None, "packaging/Containerfile has no exec-form ENTRYPOINT"
    return json.loads(match.group(1))


def selector_matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


# -- schema validation ----------------------------------------------------------------


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("path", MANIFESTS, ids=lambda path: path.name)
def test_schema_strict(path, version):
    documents = load_documents(path)
    assert documents != []
    failures = []
    for document in documents:
        name = f"{document['kind']}/{document['metadata']['name']}"
        try:
            kubernetes_validate.validate(document, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            location = ".".join(str(part) for part in error.path)
            failures.append(f"{name}: {location}: {error.message}")
        except kubernetes_validate.SchemaNotFoundError as error:
            failures.append(f"{name}: {error.message}")
    assert failures == []


def test_schema_rejects_unknown_field():
    document = copy.deepcopy(daemonset(MAIN))
    document["spec"]["template"]["spec"]["containers"][0]["comand"] = ["multus-config"]

    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(document, KUBERNETES_VERSIONS[0], strict=True)


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda path: path.name)
def test_validator_command_passes(path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "kubernetes_validate",
            "--strict",
            "-k",
            KUBERNETES_VERSIONS[0],
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # A kind without a schema is only a warning, with exit status 0.
    assert "WARN" not in result.stdout
    assert "ERROR" not in result.stdout


# -- service account and RBAC ---------------------------------------------------------


def test_service_account_in_kube_system():
    account = find(load_documents(MAIN), "ServiceAccount", "multus")
    assert account["metadata"]["namespace"] == "kube-system"


def test_role_binding_targets_account():
    binding = find(load_documents(MAIN), "ClusterRoleBinding", "multus")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "multus",
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "multus", "namespace": "kube-system"}
    ]


@pytest.mark.parametrize(
    ("group", "resource", "verbs"),
    [
        ("k8s.cni.cncf.io", "network-attachment-definitions", {"get", "list", "watch"}),
        ("", "pods", {"get", "update"}),
        ("", "pods/status", {"get", "update"}),
        ("", "events", {"create", "patch", "update"}),
        ("events.k8s.io", "events", {"create", "patch", "update"}),
    ],
)
def test_cluster_role_grants(group, resource, verbs):
    role = find(load_documents(MAIN), "ClusterRole", "multus")
    assert verbs <= granted_verbs(role, group, resource)


# -- the DaemonSets -------------------------------------------------------------------


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda path: path.name)
def test_daemonset_runs_multus_config(path):
    spec = pod_spec(path)
    command = container(path)["command"]
    assert daemonset(path)["metadata"]["namespace"] == "kube-system"
    assert spec["hostNetwork"] is True
    assert spec["serviceAccountName"] == "multus"
    assert Path(command[0]).name == "multus-config"
    assert command == containerfile_entrypoint()


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda path: path.name)
def test_daemonset_tolerates_every_taint(path):
    tolerations = pod_spec(path)["tolerations"]
    assert {"operator": "Exists", "effect": "NoSchedule"} in tolerations
    assert {"operator": "Exists", "effect": "NoExecute"} in tolerations


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda path: path.name)
def test_daemonset_resources(path):
    resources = container(path)["resources"]
    assert resources["limits"]["memory"] == "50Mi"
    assert "memory" in resources["requests"]
    assert "cpu" in resources["requests"]


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda path: path.name)
def test_host_paths_mounted_under_host(path):
    host_paths = {
        volume["name"]: volume["hostPath"]["path"]
        for volume in pod_spec(path)["volumes"]
        if "hostPath" in volume
    }
    mounts = container(path)["volumeMounts"]
    assert {"/etc/cni/net.d", "/opt/cni/bin"} <= set(host_paths.values())
    for mount in mounts:
        assert mount["name"] in host_paths
        assert mount["mountPath"] == HOST_PREFIX + host_paths[mount["name"]]


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda path: path.name)
def test_flags_point_into_host_mounts(path, monkeypatch):
    for key, value in KUBERNETES_ENV.items():
        monkeypatch.setenv(key, value)
    settings = parse_flags(container(path)["args"])
    mounted = [mount["mountPath"] for mount in container(path)["volumeMounts"]]
    assert settings.multus_conf_file == "auto"
    assert settings.cni_conf_dir == "/host/etc/cni/net.d"
    assert settings.multus_autoconfig_dir == "/host/etc/cni/net.d"
    assert settings.cni_bin_dir == "/host/opt/cni/bin"
    assert str(Path(settings.lock_file).parent) in mounted


def test_main_daemonset_keeps_config_on_exit(monkeypatch):
    for key, value in KUBERNETES_ENV.items():
        monkeypatch.setenv(key, value)
    settings = parse_flags(container(MAIN)["args"])
    assert settings.cleanup_config_on_exit is False
    assert settings.skip_multus_binary_copy is False


def test_cleanup_daemonset_removes_config(monkeypatch):
    for key, value in KUBERNETES_ENV.items():
        monkeypatch.setenv(key, value)
    settings = parse_flags(container(CLEANUP)["args"])
    assert settings.cleanup_config_on_exit is True


def test_cleanup_args_extend_main_args():
    assert container(CLEANUP)["args"] == [*container(MAIN)["args"], *CLEANUP_FLAGS]


def test_daemonsets_share_host_volumes():
    assert pod_spec(CLEANUP)["volumes"] == pod_spec(MAIN)["volumes"]
    assert container(CLEANUP)["volumeMounts"] == container(MAIN)["volumeMounts"]


def test_selectors_do_not_overlap():
    main, cleanup = daemonset(MAIN), daemonset(CLEANUP)
    main_selector = main["spec"]["selector"]["matchLabels"]
    cleanup_selector = cleanup["spec"]["selector"]["matchLabels"]
    assert selector_matches(
        main_selector, main["spec"]["template"]["metadata"]["labels"]
    )
    assert selector_matches(
        cleanup_selector, cleanup["spec"]["template"]["metadata"]["labels"]
    )
    assert not selector_matches(
        main_selector, cleanup["spec"]["template"]["metadata"]["labels"]
    )
    assert not selector_matches(
        cleanup_selector, main["spec"]["template"]["metadata"]["labels"]
    )


def test_rolling_update_without_surge():
    strategy = daemonset(MAIN)["spec"]["updateStrategy"]
    assert strategy["type"] == "RollingUpdate"
    assert strategy["rollingUpdate"]["maxSurge"] == 0


# -- readiness probes against a real supervisor --------------------------------------


def probe_command(path: Path, state_file: Path, monkeypatch) -> list[str]:
    """Return the readiness probe of *path*, reading *state_file* in place of the default."""
    for key, value in KUBERNETES_ENV.items():
        monkeypatch.setenv(key, value)
    default_state_file = parse_flags(container(path)["args"]).state_file
    command = container(path)["readinessProbe"]["exec"]["command"]
    assert command[-1] == default_state_file
    return [*command[:-1], str(state_file)]


def probe_passes(command: list[str]) -> bool:
    return (
        subprocess.run(command, capture_output=True, timeout=10, check=False).returncode
        == 0
    )


def test_readiness_probes_on_state_file(node, start_supervisor, tmp_path, monkeypatch):
    state_file = tmp_path / "status.json"
    main_probe = probe_command(MAIN, state_file, monkeypatch)
    cleanup_probe = probe_command(CLEANUP, state_file, monkeypatch)
    assert not probe_passes(main_probe)
    assert not probe_passes(cleanup_probe)

    # Without a primary CNI config the supervisor runs but installs nothing.
    supervisor = start_supervisor(*node.flags(f"--state-file={state_file}"))
    assert wait_until(state_file.exists), supervisor.log()
    assert wait_until(lambda: probe_passes(cleanup_probe)), supervisor.log()
    assert not probe_passes(main_probe)

    primary = CASES / "common" / "10-calico.conflist"
    (node.conf / primary.name).write_bytes(primary.read_bytes())
    assert wait_until(lambda: probe_passes(main_probe)), supervisor.log()
    assert node.multus_conf.exists()

    assert supervisor.stop() == 0
    assert not probe_passes(main_probe)
    assert not probe_passes(cleanup_probe)
