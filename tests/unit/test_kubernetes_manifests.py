"""deploy/kubernetes/: the manifests are valid (Kubernetes' own kinds against Kubernetes' JSON schemas, the RayService
against KubeRay's CRD), the Serve config is the one the catalog generates, the secrets are placeholders, and the
network policies let nothing leave the namespace but DNS and the head's calls to the Kubernetes API. No cluster."""

from __future__ import annotations

import copy
import ipaddress
import re
import shutil
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from ray.serve.schema import ServeDeploySchema

from serve_app import tls
from serve_app.catalog import load_catalog
from serve_app.catalog.cli import main
from serve_app.catalog.schema import Catalog, catalog_document
from serve_app.ray_env import REQUIRED_SERVE_ENV, SERVE_ENV
from serve_app.settings import ENV_PREFIX, Settings
from serve_app.telemetry import NO_TELEMETRY_ENV

ROOT = Path(__file__).resolve().parents[2]
FOLDER = ROOT / "deploy" / "kubernetes"
CRD = ROOT / "tests" / "support" / "kuberay" / "ray.io_rayservices.yaml"
KUBERNETES_VERSIONS = ["1.30.0", kubernetes_validate.latest_version()]
NAMESPACE = "llmaas"
SERVE_CONFIG_COMMAND = re.compile(r"#\s+python -m serve_app\.catalog (serve-config .+)")


def _documents(path: Path) -> list[dict[str, Any]]:
    return [document for document in yaml.safe_load_all(path.read_text()) if document]


def _manifests() -> list[Path]:
    return sorted(path for path in FOLDER.glob("*.yaml") if path.name != "kustomization.yaml")


@cache
def _rayservice() -> dict[str, Any]:
    (document,) = _documents(FOLDER / "rayservice.yaml")
    return document


def _ray_containers() -> list[dict[str, Any]]:
    cluster = _rayservice()["spec"]["rayClusterConfig"]
    groups = [cluster["headGroupSpec"], *cluster["workerGroupSpecs"]]
    return [group["template"]["spec"]["containers"][0] for group in groups]


def _pods() -> list[dict[str, Any]]:
    cluster = _rayservice()["spec"]["rayClusterConfig"]
    return [group["template"]["spec"] for group in [cluster["headGroupSpec"], *cluster["workerGroupSpecs"]]]


@cache
def _rayservice_schema() -> dict[str, Any]:
    """KubeRay's v1 schema, strict: an object that lists its properties takes no other (as ``kubectl apply`` refuses
    unknown fields), unless the CRD keeps unknown fields there."""
    crd = yaml.load(CRD.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    return _strict(version["schema"]["openAPIV3Schema"])


def _strict(schema: Any) -> Any:
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    strict = {key: _strict(value) if key != "properties" else {name: _strict(sub) for name, sub in value.items()}
              for key, value in schema.items()}
    if "properties" in schema and "additionalProperties" not in schema \
            and not schema.get("x-kubernetes-preserve-unknown-fields"):
        strict["additionalProperties"] = False
    return strict


def test_the_kustomization_applies_every_manifest_but_the_secrets_template() -> None:
    kustomization = yaml.safe_load((FOLDER / "kustomization.yaml").read_text())
    applied = sorted(path.name for path in _manifests() if path.name != "secrets.example.yaml")
    assert sorted(kustomization["resources"]) == applied


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_kubernetes_kinds_validate_against_kubernetes_schemas(version: str) -> None:
    checked = set()
    for path in _manifests():
        for document in _documents(path):
            if document["kind"] == "RayService":
                continue
            kubernetes_validate.validate(document, version, strict=True)
            checked.add(document["kind"])
            if document["kind"] != "Namespace":
                assert document["metadata"]["namespace"] == NAMESPACE, path.name
    assert checked == {"Namespace", "NetworkPolicy", "Secret", "Service", "StatefulSet", "PersistentVolumeClaim"}


def test_a_wrong_field_fails_the_kubernetes_validation() -> None:
    (claim,) = _documents(FOLDER / "models.yaml")
    claim["spec"]["accessMode"] = claim["spec"].pop("accessModes")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(claim, KUBERNETES_VERSIONS[-1], strict=True)


def test_the_rayservice_validates_against_kuberays_crd() -> None:
    service = _rayservice()
    assert service["apiVersion"] == "ray.io/v1" and service["metadata"]["namespace"] == NAMESPACE
    jsonschema.validate(service, _rayservice_schema())
    wrong = copy.deepcopy(service)
    wrong["spec"]["rayClusterConfig"]["workerGroupSpecs"][0]["maxReplica"] = 3
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(wrong, _rayservice_schema())


def test_the_serve_config_is_the_one_the_catalog_generates(tmp_path: Path) -> None:
    text = (FOLDER / "rayservice.yaml").read_text()
    match = SERVE_CONFIG_COMMAND.search(text)
    assert match is not None, "rayservice.yaml names the command that generates its serveConfigV2"
    copied = tmp_path / "rayservice.yaml"
    shutil.copy(FOLDER / "rayservice.yaml", copied)
    argv = match[1].split()
    argv[argv.index("--into") + 1] = str(copied)
    argv[1] = str(ROOT / argv[1])
    assert main(argv) == 0
    assert copied.read_text() == text, "run the command in rayservice.yaml's header and commit the result"


def test_the_serve_config_runs_the_gpu_catalog_on_every_node_with_tls() -> None:
    config = yaml.safe_load(_rayservice()["spec"]["serveConfigV2"])
    ServeDeploySchema.model_validate(config)
    (app,) = config["applications"]
    assert app["import_path"] == "serve_app.app:build_app" and app["route_prefix"] == "/"
    catalog = Catalog.model_validate(catalog_document(app["args"]["catalog"]))
    assert catalog == load_catalog(ROOT / "catalog.gpu.yaml")
    assert config["proxy_location"] == "EveryNode" and config["http_options"]["host"] == "0.0.0.0"
    env = _env(_ray_containers()[0])
    assert config["http_options"]["ssl_certfile"] == env["LLMAAS_TLS_CERT"]
    assert config["http_options"]["ssl_keyfile"] == env["LLMAAS_TLS_KEY"]


def test_into_manifest_replaces_only_the_serve_config_block() -> None:
    from serve_app.catalog.serve_config import into_manifest

    manifest = "a:\n  serveConfigV2: |\n    old: 1\n\n    older: 2\n\n  next: 3\n"
    assert into_manifest(manifest, {"new": 1}) == "a:\n  serveConfigV2: |\n    new: 1\n\n  next: 3\n"
    with pytest.raises(ValueError, match="serveConfigV2"):
        into_manifest("a: 1\n", {})


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {item["name"]: item.get("value", "") for item in container["env"]}


def test_every_ray_container_runs_with_the_platforms_environment() -> None:
    containers = _ray_containers()
    assert all(container["env"] == containers[0]["env"] for container in containers)
    env = _env(containers[0])
    for name, value in {**NO_TELEMETRY_ENV, **SERVE_ENV, **REQUIRED_SERVE_ENV}.items():
        assert env.get(name) == value, name
    settings = {ENV_PREFIX + name.upper() for name in Settings.model_fields}
    assert {name for name in env if name.startswith(ENV_PREFIX)} <= settings
    assert {"LLMAAS_DATABASE_URL", "LLMAAS_ADMIN_TOKEN", "LLMAAS_TLS_CERT", "LLMAAS_TLS_KEY"} <= set(env)
    secret_refs = {item["name"] for item in containers[0]["env"] if "valueFrom" in item}
    assert secret_refs == {"LLMAAS_DATABASE_URL", "LLMAAS_ADMIN_TOKEN"}  # never a literal secret in the manifest
    assert {container["image"] for container in containers} == {containers[0]["image"]}


def test_the_image_holds_the_projects_ray_and_the_tls_configuration_where_the_manifest_says() -> None:
    dockerfile = (FOLDER / "Dockerfile").read_text()
    ray_version = _rayservice()["spec"]["rayClusterConfig"]["rayVersion"]
    pinned = re.search(r'"ray\[serve\]==([\d.]+)"', (ROOT / "pyproject.toml").read_text())
    assert pinned is not None and ray_version == pinned[1]
    assert re.search(rf"^FROM rayproject/ray:{re.escape(ray_version)}-py311-gpu$", dockerfile, re.MULTILINE)
    workdir = re.search(r"^WORKDIR (\S+)$", dockerfile, re.MULTILINE)
    assert workdir is not None
    relative = tls.OPENSSL_CONF_FILE.relative_to(ROOT)
    assert _env(_ray_containers()[0])["OPENSSL_CONF"] == f"{workdir[1]}/{relative}"


def test_tls_and_models_are_mounted_on_every_ray_pod() -> None:
    env = _env(_ray_containers()[0])
    for pod in _pods():
        volumes = {volume["name"]: volume for volume in pod["volumes"]}
        mounts = {mount["name"]: mount["mountPath"] for mount in pod["containers"][0]["volumeMounts"]}
        assert volumes["tls"]["secret"]["secretName"] == "llmaas-tls"
        tls_dir = mounts["tls"]
        assert (env["LLMAAS_TLS_CERT"], env["LLMAAS_TLS_KEY"]) == (f"{tls_dir}/tls.crt", f"{tls_dir}/tls.key")
        assert volumes["models"]["persistentVolumeClaim"]["claimName"] == "llmaas-models"
        assert env["LLMAAS_MODELS_DIR"] == mounts["models"] and env["HF_HOME"].startswith(mounts["models"] + "/")
        assert mounts["shm"] == "/dev/shm" and volumes["shm"]["emptyDir"]["medium"] == "Memory"


def test_gpu_groups_request_what_they_limit_and_probe_the_proxy_over_tls() -> None:
    cluster = _rayservice()["spec"]["rayClusterConfig"]
    assert cluster["enableInTreeAutoscaling"] is True
    for group in cluster["workerGroupSpecs"]:
        assert group["minReplicas"] <= group["replicas"] <= group["maxReplicas"], group["groupName"]
        container = group["template"]["spec"]["containers"][0]
        assert container["resources"]["requests"] == container["resources"]["limits"]
        assert container["resources"]["limits"]["nvidia.com/gpu"] >= 1
        assert "https://localhost:8000/-/healthz" in " ".join(container["readinessProbe"]["exec"]["command"])
    assert _rayservice()["spec"]["excludeHeadPodFromServeSvc"] is True


def test_secrets_are_placeholders_and_every_secret_the_platform_reads_is_templated() -> None:
    secrets = {doc["metadata"]["name"]: doc for doc in _documents(FOLDER / "secrets.example.yaml")}
    for secret in secrets.values():
        assert "data" not in secret
        for key, value in secret["stringData"].items():
            assert "REPLACE_WITH" in value, (secret["metadata"]["name"], key)
    readers = [_rayservice(), *_documents(FOLDER / "postgres.yaml")]
    read = {(ref["name"], ref["key"]) for ref in _secret_key_refs(readers)}
    read |= {("llmaas-tls", "tls.crt"), ("llmaas-tls", "tls.key"),  # the secret volume (kubernetes.io/tls keys)
             (_rayservice()["spec"]["rayClusterConfig"]["authOptions"]["secretName"], "auth_token")}
    assert read == {(name, key) for name, secret in secrets.items() for key in secret["stringData"]}


def _secret_key_refs(value: Any) -> list[dict[str, str]]:
    if isinstance(value, list):
        return [ref for item in value for ref in _secret_key_refs(item)]
    if isinstance(value, dict):
        found = [value["secretKeyRef"]] if "secretKeyRef" in value else []
        return found + [ref for item in value.values() for ref in _secret_key_refs(item)]
    return []


def _policies() -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc["spec"] for doc in _documents(FOLDER / "networkpolicies.yaml")}


def test_the_namespace_denies_everything_by_default() -> None:
    deny = _policies()["default-deny"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


def test_nothing_leaves_the_namespace_but_dns_and_the_heads_calls_to_the_kubernetes_api() -> None:
    destinations = []
    for name, policy in _policies().items():
        for rule in policy.get("egress", []):
            assert rule.get("to"), f"{name}: an egress rule without `to` lets everything out"
            for peer in rule["to"]:
                destinations.append((name, _peer(peer), tuple(sorted((p["protocol"], p["port"])
                                                                      for p in rule.get("ports", [])))))
    assert sorted(destinations) == [
        ("allow-dns", "kube-system/kube-dns", (("TCP", 53), ("UDP", 53))),
        ("allow-kubernetes-api-from-head", "ip", (("TCP", 443), ("TCP", 6443))),
        ("allow-within-namespace", "this namespace", ()),
    ]
    head_only = _policies()["allow-kubernetes-api-from-head"]
    assert head_only["podSelector"] == {"matchLabels": {"ray.io/node-type": "head"}}
    (cidr,) = [peer["ipBlock"]["cidr"] for rule in head_only["egress"] for peer in rule["to"]]
    assert ipaddress.ip_network(cidr).num_addresses == 1  # one address, never a range


def _peer(peer: dict[str, Any]) -> str:
    if "ipBlock" in peer:
        return "ip"
    if "namespaceSelector" in peer:
        namespace = peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        return f"{namespace}/{peer['podSelector']['matchLabels']['k8s-app']}"
    assert peer == {"podSelector": {}}
    return "this namespace"


def test_only_the_api_port_is_open_from_outside_and_the_dashboard_only_to_the_operator() -> None:
    policies = _policies()
    outside = [(name, rule) for name, policy in policies.items() for rule in policy.get("ingress", [])
               if rule.get("from") != [{"podSelector": {}}]]
    assert [(name, rule.get("from"), rule["ports"]) for name, rule in outside] == [
        ("allow-api", None, [{"protocol": "TCP", "port": 8000}]),
        ("allow-kuberay-operator", [{"namespaceSelector": {"matchLabels": {
            "kubernetes.io/metadata.name": "kuberay-system"}}}], [{"protocol": "TCP", "port": 8265}]),
    ]
