"""manifests/ rendered offline (kubectl kustomize) and validated against Kubernetes' schemas and the CRDs.

Issue 14 points 1 (object store), 2 (Profile), 3 (storage), 13 (secrets, RBAC) and the Paddle runtime.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml
from support.k8s_schemas import MANIFESTS, REPO, manifests_copy, render, schema_errors

KUSTOMIZATIONS = [
    "base",
    "overlays/standalone",
    "overlays/profile",
    "overlays/profile-multinode",
    "profile",
    "runtime",
    "paddlejob",
    "cleanup",
]
PROFILE_NS = "ppocrv3"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict]]:
    root = manifests_copy(tmp_path_factory.mktemp("m"))
    return {folder: render(root / folder) for folder in KUSTOMIZATIONS}


def by_kind(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d["kind"] == kind]


@pytest.mark.parametrize("folder", KUSTOMIZATIONS)
def test_every_rendered_object_passes_its_schema(rendered: dict[str, list[dict]], folder: str) -> None:
    assert rendered[folder]
    for doc in rendered[folder]:
        assert schema_errors(doc) == [], f"{folder}: {doc['kind']} {doc['metadata']['name']}"


@pytest.mark.parametrize(
    "kind, path, value, expected",
    [
        ("PersistentVolumeClaim", ["spec", "accessModes"], "ReadWriteOnce", "is not of type"),  # built-in
        ("Profile", ["spec", "ownr"], {}, "'ownr' was unexpected"),  # vendored Profile CRD
        ("ClusterTrainingRuntime", ["spec", "mlPolicy", "numNodes"], "2", "is not of type 'integer'"),
    ],
)
def test_schema_checks_can_fail(rendered, kind: str, path: list[str], value: object, expected: str) -> None:
    doc = next(d for docs in rendered.values() for d in docs if d["kind"] == kind)
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    assert any(expected in e for e in schema_errors(doc))


# ---------------------------------------------------------------------------------------- 1. object store
def test_no_manifest_or_doc_points_at_the_removed_minio_service() -> None:
    for path in [*MANIFESTS.rglob("*"), REPO / "README.md", *(REPO / "docs").glob("*.md")]:
        if path.is_file():
            assert not re.search(r"minio-service\.kubeflow(\.svc)?:\d+", path.read_text()), path


@pytest.mark.parametrize("overlay", ["profile", "standalone"])
def test_credentials_example_targets_kfps_seaweedfs_and_documents_external_s3(overlay: str) -> None:
    text = (MANIFESTS / "overlays" / overlay / "object-store.env.example").read_text()
    settings = dict(line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))
    assert re.fullmatch(r"seaweedfs\.kubeflow:\d+", settings["MINIO_ENDPOINT"])
    assert settings["MINIO_SECURE"] == "false" and "AWS_REGION" in settings
    assert "# MINIO_ENDPOINT=s3." in text and "# MINIO_SECURE=true" in text  # the external S3 variant


def test_readme_results_uris_lie_in_the_namespaces_writable_prefix() -> None:
    from pipelines.remote import results_uri_problem

    text = (MANIFESTS / "README.md").read_text()
    uris = re.findall(r"results[_-]uri[ =](s3://\S+)", text)
    assert uris, "manifests/README.md shows no results_uri"
    for uri in uris:
        assert results_uri_problem(uri, PROFILE_NS) is None, uri


@pytest.mark.parametrize(
    "uri, namespace, bad",
    [
        ("s3://mlpipeline/ppocrv3-results", PROFILE_NS, True),  # the old README example
        ("s3://mlpipeline/private-artifacts/other-team/x", PROFILE_NS, True),  # someone else's prefix
        ("s3://mlpipeline/private-artifacts/ppocrv3/results", PROFILE_NS, False),
        ("s3://mlpipeline/shared/ppocrv3", PROFILE_NS, False),
        ("s3://my-bucket/results", PROFILE_NS, False),  # an external bucket: its own policy
        ("s3://mlpipeline/ppocrv3-results", None, False),  # standalone KFP: no namespace prefixes
    ],
)
def test_results_uri_outside_the_namespace_prefix_is_refused(uri: str, namespace, bad: bool) -> None:
    from pipelines.remote import results_uri_problem

    assert (results_uri_problem(uri, namespace) is not None) == bad


# --------------------------------------------------------------------------------------------- 2. Profile
def test_profile_creates_the_namespace_the_overlays_use(rendered: dict[str, list[dict]]) -> None:
    (profile,) = rendered["profile"]
    assert (profile["apiVersion"], profile["kind"]) == ("kubeflow.org/v1", "Profile")
    assert profile["metadata"]["name"] == PROFILE_NS and "namespace" not in profile["metadata"]
    assert profile["spec"]["owner"]["kind"] == "User"
    for overlay in ("overlays/profile", "overlays/profile-multinode"):
        docs = rendered[overlay]
        assert not by_kind(docs, "Namespace"), "a Profile cannot adopt a namespace created beforehand"
        assert {d["metadata"]["namespace"] for d in docs} == {PROFILE_NS}


def test_launcher_binding_names_the_account_kfp_runs_pods_as(rendered: dict[str, list[dict]]) -> None:
    bindings = by_kind(rendered["overlays/profile-multinode"], "RoleBinding")
    assert sorted(b["metadata"]["name"] for b in bindings) == ["ppocrv3-kserve-deployer", "ppocrv3-launcher"]
    for binding in bindings:
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "default-editor", "namespace": PROFILE_NS}
        ]


# --------------------------------------------------------------------------------------------- 3. storage
def test_storage_class_is_set_and_rwx_only_for_multi_node(rendered: dict[str, list[dict]]) -> None:
    from pipelines.pipeline import ppocrv3_det

    for overlay in ("overlays/standalone", "overlays/profile", "overlays/profile-multinode"):
        for pvc in by_kind(rendered[overlay], "PersistentVolumeClaim"):
            assert pvc["spec"].get("storageClassName"), f"{overlay}: {pvc['metadata']['name']} has no class"
    for overlay in ("overlays/standalone", "overlays/profile"):
        modes = {
            m
            for pvc in by_kind(rendered[overlay], "PersistentVolumeClaim")
            for m in pvc["spec"]["accessModes"]
        }
        assert modes == {"ReadWriteOnce"}, overlay
    claims = {
        p["metadata"]["name"]: p["spec"]["accessModes"]
        for p in by_kind(rendered["overlays/profile-multinode"], "PersistentVolumeClaim")
    }
    assert claims == {"ppocrv3-checkpoints": ["ReadWriteOnce"], "ppocrv3-shared": ["ReadWriteMany"]}
    assert ppocrv3_det.component_spec.inputs["cache_pvc"].default == "ppocrv3-checkpoints"


# ------------------------------------------------------------------------------------ 13. secrets and RBAC
def test_no_tracked_manifest_holds_a_secret() -> None:
    tracked = subprocess.run(
        ["git", "ls-files", "manifests"], cwd=REPO, check=True, capture_output=True, text=True
    ).stdout.split()
    assert tracked
    for name in tracked:
        if name.endswith((".yaml", ".yml")):
            kinds = {d.get("kind") for d in yaml.safe_load_all((REPO / name).read_text()) if d}
            assert "Secret" not in kinds, name
        assert not name.endswith("object-store.env"), name


def test_credentials_file_is_git_ignored() -> None:
    path = "manifests/overlays/profile/object-store.env"
    assert subprocess.run(["git", "check-ignore", "-q", path], cwd=REPO).returncode == 0


def test_secret_comes_from_the_env_file_under_the_pipelines_name(rendered: dict[str, list[dict]]) -> None:
    from pipelines.pipeline import MINIO_ENV, MINIO_SECRET

    (secret,) = by_kind(rendered["overlays/profile"], "Secret")
    assert secret["metadata"]["name"] == MINIO_SECRET  # no hash suffix: the pipeline names it exactly
    assert set(secret["data"]) == set(MINIO_ENV)


def test_overlay_without_a_credentials_file_refuses_to_render(tmp_path: Path) -> None:
    root = manifests_copy(tmp_path, with_credentials=False)
    with pytest.raises(subprocess.CalledProcessError) as failed:
        render(root / "overlays" / "profile")
    assert "object-store.env" in failed.value.stderr


def test_single_node_overlays_grant_no_training_rbac(rendered: dict[str, list[dict]]) -> None:
    """Single-node training needs no Role; the one there is the optional deploy step's, on InferenceServices."""
    for overlay in ("overlays/standalone", "overlays/profile"):
        (role,) = by_kind(rendered[overlay], "Role")
        (binding,) = by_kind(rendered[overlay], "RoleBinding")
        assert role["metadata"]["name"] == binding["roleRef"]["name"] == "ppocrv3-kserve-deployer"
        assert {resource for rule in role["rules"] for resource in rule["resources"]} == {
            "inferenceservices",
            "inferenceservices/status",
        }


# ------------------------------------------------------------------------------------- the Paddle runtime
def test_runtime_is_the_one_trainjobs_reference(rendered: dict[str, list[dict]]) -> None:
    from components import trainjob

    (runtime,) = rendered["runtime"]
    assert runtime["metadata"]["name"] == trainjob.RUNTIME
    (node,) = runtime["spec"]["template"]["spec"]["replicatedJobs"]
    assert node["name"] == trainjob.NODE_JOB
    assert node["template"]["metadata"]["labels"] == {
        "trainer.kubeflow.org/trainjob-ancestor-step": "trainer"
    }
    (container,) = node["template"]["spec"]["template"]["spec"]["containers"]
    assert container["name"] == trainjob.NODE_CONTAINER
    assert "python -m paddle.distributed.launch" in container["command"][2]
    assert not set(runtime["spec"]["mlPolicy"]) - {"numNodes"}  # PlainML: no torch/mpi/... policy
