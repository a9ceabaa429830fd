"""deploy/kubernetes, offline: every manifest validates against Kubernetes' own schemas (strict:
an unknown field is an error), the kustomization lists every file, and every TINYMLP_* variable
the manifests set is one tinymlp reads."""

from __future__ import annotations

import copy
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from core import settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"
K8S = "1.32.0"
MANIFESTS = sorted(p for p in DEPLOY.glob("*.yaml") if p.name != "kustomization.yaml")


def docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def every_doc():
    return [d for p in MANIFESTS for d in docs(p)]


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_each_manifest_validates_against_the_kubernetes_schemas(path):
    for doc in docs(path):
        kubernetes_validate.validate(doc, K8S, strict=True)


def test_the_validation_can_fail():
    deployment = copy.deepcopy(docs(DEPLOY / "api-deployment.yaml")[0])
    deployment["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}  # a typo
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S, strict=True)


def test_the_kustomization_lists_every_file():
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == sorted(p.name for p in MANIFESTS)
    used = {c["image"] for d in every_doc() if d["kind"] in ("Deployment", "Job")
            for c in d["spec"]["template"]["spec"]["containers"]}
    assert used == {i["name"] for i in kustomization["images"]}


def _set_variables() -> set[str]:
    names = set()
    for doc in every_doc():
        if doc["kind"] == "ConfigMap":
            names |= set(doc["data"])
        if doc["kind"] == "Secret":
            names |= set(doc.get("stringData", {})) | set(doc.get("data", {}))
        if doc["kind"] in ("Deployment", "Job"):
            for c in doc["spec"]["template"]["spec"]["containers"]:
                names |= {e["name"] for e in c.get("env", [])}
    return {n for n in names if n.startswith("TINYMLP_")}


def test_every_tinymlp_variable_the_manifests_set_is_one_tinymlp_reads():
    set_here = _set_variables()
    assert set_here <= set(settings.VARIABLES), set_here - set(settings.VARIABLES)
    assert {"TINYMLP_DATABASE_URL", "TINYMLP_TRAIN_TOKEN", "TINYMLP_MODELS_DIR"} <= set_here
    configmap = next(d for d in every_doc() if d["kind"] == "ConfigMap")
    for name, value in configmap["data"].items():  # and each value is one it takes
        settings.read(name, {name: value})


def test_pods_run_as_non_root_on_read_only_filesystems_with_writable_scratch():
    for doc in every_doc():
        if doc["kind"] not in ("Deployment", "Job"):
            continue
        spec = doc["spec"]["template"]["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True, doc["metadata"]["name"]
        volumes = {v["name"]: v for v in spec["volumes"]}
        for c in spec["containers"]:
            assert c["securityContext"]["readOnlyRootFilesystem"] is True
            assert c["resources"]["requests"] and c["resources"]["limits"]
            mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
            assert "emptyDir" in volumes[mounts["/tmp"]]
            assert volumes[mounts["/var/lib/tinymlp/models"]]["persistentVolumeClaim"]["claimName"] == "tinymlp-models"


def test_the_api_is_probed_scaled_and_protected_from_drains():
    by_kind = {(d["kind"], d["metadata"]["name"]): d for d in every_doc()}
    api = by_kind["Deployment", "tinymlp-api"]
    container = api["spec"]["template"]["spec"]["containers"][0]
    assert api["spec"]["replicas"] == 3
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert by_kind["HorizontalPodAutoscaler", "tinymlp-api"]["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    assert by_kind["PodDisruptionBudget", "tinymlp-api"]["spec"]["minAvailable"] >= 1
    pvc = by_kind["PersistentVolumeClaim", "tinymlp-models"]
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    annotations = by_kind["Ingress", "tinymlp"]["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/proxy-request-buffering"] == "on"
    assert annotations["nginx.ingress.kubernetes.io/proxy-body-size"] == "2m"
    secret = by_kind["Secret", "tinymlp-secrets"]
    assert all("replace" in v for v in secret["stringData"].values())  # placeholders, never a real value
