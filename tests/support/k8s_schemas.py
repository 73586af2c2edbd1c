"""Offline schema checks for everything we ship or create on a cluster.

Built-in kinds: kubernetes-validate --strict. Custom resources: the openAPIV3Schema of their CRD (Kubeflow
Trainer v2.3.0 and Training Operator v1.9.0 from ../shared/k8s, the Profile CRD vendored in tests/support/crds).
A custom resource without a known CRD fails: nothing is silently left unvalidated.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from support.kfp_helpers import crd_validator

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = REPO / "manifests"
SHARED_K8S = REPO / ".." / "shared" / "k8s"
K8S_VERSION = "1.32"
CRDS = {
    ("kubeflow.org/v1", "Profile"): Path(__file__).parent / "crds" / "kubeflow.org_profiles.yaml",
    ("kubeflow.org/v1", "PaddleJob"): SHARED_K8S / "kubeflow.org_paddlejobs.v1.9.0.yaml",
    ("trainer.kubeflow.org/v1alpha1", "TrainJob"): SHARED_K8S
    / "trainer-v2.3.0"
    / "trainer.kubeflow.org_trainjobs.yaml",
    ("trainer.kubeflow.org/v1alpha1", "ClusterTrainingRuntime"): SHARED_K8S
    / "trainer-v2.3.0"
    / "trainer.kubeflow.org_clustertrainingruntimes.yaml",
}


@functools.lru_cache(maxsize=None)
def validator_for(api_version: str, kind: str):
    path = CRDS.get((api_version, kind))
    if path is None:
        raise AssertionError(f"no CRD known for {api_version} {kind}: add it to CRDS")
    if not path.exists():
        pytest.skip(f"CRD of {kind} not found at {path} (../shared is absent)")
    return crd_validator(path)


def schema_errors(doc: dict) -> list[str]:
    """Every schema violation of one object (built-in kind or custom resource)."""
    key = (doc["apiVersion"], doc["kind"])
    if "/" in doc["apiVersion"] and doc["apiVersion"].split("/")[0].endswith("kubeflow.org"):
        return [f"{'.'.join(map(str, e.path))}: {e.message}" for e in validator_for(*key).iter_errors(doc)]
    try:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return [f"{'.'.join(map(str, exc.path))}: {exc.message}"]
    return []


def renderer() -> list[str]:
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    pytest.skip("no kustomize renderer (kubectl or kustomize) on PATH")


def render(folder: Path) -> list[dict]:
    out = subprocess.run([*renderer(), str(folder)], check=True, capture_output=True, text=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def manifests_copy(tmp: Path, with_credentials: bool = True) -> Path:
    """A copy of manifests/ with object-store.env made from each .example (as the README says)."""
    root = tmp / "manifests"
    shutil.copytree(MANIFESTS, root, ignore=shutil.ignore_patterns("object-store.env"))
    if with_credentials:
        for example in root.rglob("object-store.env.example"):
            shutil.copyfile(example, example.with_suffix(""))
    return root
