"""Deploying the server on KServe: manifests/kserve and the body components/deploy_kserve.py sends are valid
InferenceServices (KServe's CRD, tests/fixtures/kserve), the deploy step's calls against a mocked API, the
RBAC it needs, and the optional step in the compiled pipeline (off by default)."""

from __future__ import annotations

import gzip
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from kubernetes.client.exceptions import ApiException

from components.deploy_kserve import (
    InferenceServiceNotReady,
    apply_and_wait,
    build_inference_service,
    storage_uri,
)

REPO = Path(__file__).resolve().parents[2]
CRD = REPO / "tests" / "fixtures" / "kserve" / "serving.kserve.io_inferenceservices.yaml.gz"
K8S_VERSION = "1.32"


def _to_json_schema(node: Any) -> Any:
    """CRD openAPIV3Schema -> strict JSON schema (as tests/kfp/kfp_helpers.crd_validator does)."""
    if isinstance(node, list):
        return [_to_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {
        k: _to_json_schema(v)
        for k, v in node.items()
        if not k.startswith("x-kubernetes-") and k != "nullable"
    }
    if node.get("x-kubernetes-int-or-string"):
        out = {k: v for k, v in out.items() if k != "type"} | {
            "anyOf": [{"type": "integer"}, {"type": "string"}]
        }
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    if (
        node.get("type") == "object"
        and "properties" in node
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        out.setdefault("additionalProperties", False)
    return out


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    crd = yaml.load(gzip.decompress(CRD.read_bytes()), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1beta1"]
    schema = _to_json_schema(version["schema"]["openAPIV3Schema"])
    schema["properties"]["metadata"] = {"type": "object"}
    return jsonschema.Draft7Validator(schema)


def _errors(validator: jsonschema.Draft7Validator, doc: dict) -> list[str]:
    return [f"{'.'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(doc)]


def _render(folder: str) -> list[dict]:
    if shutil.which("kubectl"):
        cmd = ["kubectl", "kustomize", str(REPO / "manifests" / folder)]
    elif shutil.which("kustomize"):
        cmd = ["kustomize", "build", str(REPO / "manifests" / folder)]
    else:
        pytest.skip("no kustomize renderer (kubectl or kustomize) on PATH")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def test_kserve_manifests_are_valid(validator) -> None:
    docs = {d["kind"]: d for d in _render("kserve")}
    assert set(docs) == {"InferenceService", "ServiceAccount", "Secret"}
    assert _errors(validator, docs.pop("InferenceService")) == []
    for doc in docs.values():
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    assert docs["Secret"]["stringData"] == {
        "AWS_ACCESS_KEY_ID": "REPLACE_ME",
        "AWS_SECRET_ACCESS_KEY": "REPLACE_ME",
    }


def test_the_crd_check_catches_mistakes(validator) -> None:
    isvc = next(d for d in _render("kserve") if d["kind"] == "InferenceService")
    isvc["spec"]["predictor"]["minReplicas"] = "zero"
    isvc["spec"]["predictor"]["containers"][0]["imagee"] = "typo"
    isvc["spec"]["predictor"]["scaleMetric"] = "latency"
    errors = " | ".join(_errors(validator, isvc))
    assert "'zero' is not of type 'integer'" in errors
    assert "'imagee' was unexpected" in errors
    assert "'latency' is not one of" in errors


@pytest.mark.parametrize("min_replicas", [0, 1])
def test_the_deploy_body_is_valid_and_matches_the_manifest(validator, min_replicas: int) -> None:
    body = build_inference_service(
        "ppocrv3-det",
        namespace="ns",
        image="reg/ppocrv3-det:cpu",
        storage="s3://b/x/Student",
        min_replicas=min_replicas,
    )
    assert _errors(validator, body) == []
    manifest = next(d for d in _render("kserve") if d["kind"] == "InferenceService")
    ours, theirs = body["spec"]["predictor"], manifest["spec"]["predictor"]
    assert {k: v for k, v in ours.items() if k not in ("containers", "minReplicas")} == {
        k: v for k, v in theirs.items() if k not in ("containers", "minReplicas")
    }
    for key in ("name", "command", "args", "ports", "resources", "readinessProbe"):
        assert ours["containers"][0][key] == theirs["containers"][0][key], key
    assert ours["containers"][0]["env"] == [{"name": "STORAGE_URI", "value": "s3://b/x/Student"}]


@pytest.mark.parametrize(
    "artifact, sub, expected",
    [
        (
            "minio://mlpipeline/v2/artifacts/run/export/1/exported",
            "Student",
            "s3://mlpipeline/v2/artifacts/run/export/1/exported/Student",
        ),
        ("s3://bucket/exported/", "/Student/", "s3://bucket/exported/Student"),
        ("gs://bucket/exported", "", "gs://bucket/exported"),
    ],
)
def test_storage_uri(artifact: str, sub: str, expected: str) -> None:
    assert storage_uri(artifact, sub) == expected


class FakeApi:
    """CustomObjectsApi stand-in: records calls, answers `get` from a list of statuses."""

    def __init__(self, statuses: list[dict], create_status: int | None = None) -> None:
        self.statuses, self.create_status, self.calls = list(statuses), create_status, []

    def create_namespaced_custom_object(self, **kwargs):
        self.calls.append(("create", kwargs))
        if self.create_status:
            raise ApiException(status=self.create_status, reason="refused")

    def patch_namespaced_custom_object(self, **kwargs):
        self.calls.append(("patch", kwargs))

    def get_namespaced_custom_object(self, **kwargs):
        self.calls.append(("get", kwargs))
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        return {"status": status}


def _ready(value: str, reason: str = "") -> dict:
    return {
        "conditions": [{"type": "Ready", "status": value, "reason": reason}],
        "url": "http://isvc.example",
    }


def _body() -> dict:
    return build_inference_service("det", namespace="ns", image="img", storage="s3://b/Student")


def test_apply_creates_then_waits_for_ready(validator) -> None:
    api, lines = FakeApi([{}, _ready("False", "RevisionMissing"), _ready("True")]), []
    final = apply_and_wait(_body(), api, echo=lines.append, sleep=lambda s: None)
    assert final["status"]["url"] == "http://isvc.example"
    verbs = [c[0] for c in api.calls]
    assert verbs == ["create", "get", "get", "get"]
    create = api.calls[0][1]
    assert (create["group"], create["version"], create["plural"], create["namespace"]) == (
        "serving.kserve.io",
        "v1beta1",
        "inferenceservices",
        "ns",
    )
    assert _errors(validator, create["body"]) == []
    assert any("RevisionMissing" in line for line in lines)


def test_apply_replaces_the_spec_of_an_existing_service(validator) -> None:
    api = FakeApi([_ready("True")], create_status=409)
    apply_and_wait(_body(), api, echo=lambda s: None, sleep=lambda s: None)
    assert [c[0] for c in api.calls] == ["create", "patch", "get"]
    patch = api.calls[1][1]
    assert patch["name"] == "det" and patch["body"] == {"spec": _body()["spec"]}
    assert _errors(validator, {**_body(), **patch["body"]}) == []


def test_apply_times_out_with_the_last_reason() -> None:
    clock = iter(range(0, 10_000, 100))
    api = FakeApi([_ready("False", "ContainerMissing")])
    with pytest.raises(InferenceServiceNotReady, match="ContainerMissing"):
        apply_and_wait(
            _body(), api, timeout_s=300, echo=lambda s: None, clock=lambda: next(clock), sleep=lambda s: None
        )


def test_apply_passes_other_api_errors_on() -> None:
    with pytest.raises(ApiException):
        apply_and_wait(_body(), FakeApi([{}], create_status=403), echo=lambda s: None, sleep=lambda s: None)


@pytest.mark.parametrize(
    "overlay, account", [("overlays/standalone", "pipeline-runner"), ("overlays/profile", "default-editor")]
)
def test_rbac_allows_every_call_the_deploy_step_makes(overlay: str, account: str) -> None:
    docs = _render(overlay)
    role = next(d for d in docs if d["kind"] == "Role" and d["metadata"]["name"] == "ppocrv3-kserve-deployer")
    binding = next(
        d for d in docs if d["kind"] == "RoleBinding" and d["roleRef"]["name"] == "ppocrv3-kserve-deployer"
    )
    kubernetes_validate.validate(role, K8S_VERSION, strict=True)
    assert binding["subjects"][0]["name"] == account
    allowed = {v for r in role["rules"] if "inferenceservices" in r["resources"] for v in r["verbs"]}
    api = FakeApi([_ready("True")], create_status=409)
    apply_and_wait(_body(), api, echo=lambda s: None, sleep=lambda s: None)
    assert {c[0] for c in api.calls} <= allowed


def test_the_pipeline_deploys_only_when_asked(tmp_path: Path) -> None:
    from pipelines.cli import main

    out = tmp_path / "p.yaml"
    assert main(["compile", "-o", str(out)]) == 0
    spec = next(yaml.safe_load_all(out.read_text()))
    params = spec["root"]["inputDefinitions"]["parameters"]
    assert params["deploy_to_kserve"]["defaultValue"] is False
    tasks = spec["root"]["dag"]["tasks"]
    (condition,) = [t for t in tasks.values() if "deploy_to_kserve" in t.get("triggerPolicy", {}).get("condition", "")]
    assert "deploy_to_kserve" in condition["triggerPolicy"]["condition"]
    inner = spec["components"][condition["componentRef"]["name"]]["dag"]["tasks"]
    assert set(inner) == {"deploy-kserve"}
    assert inner["deploy-kserve"]["inputs"]["artifacts"]["exported"]["componentInputArtifact"]
