"""deploy_kserve (optional, off by default): the exported Student as a KServe InferenceService.

Creates (or, on a re-run, replaces the spec of) a `serving.kserve.io/v1beta1` InferenceService whose custom
predictor runs `det-model serve` in the project image on the model KServe's storage initializer downloads from
the artifact's URI (`STORAGE_URI` -> /mnt/models), then waits for its Ready condition and prints its URL.
The pod's service account needs RBAC on inferenceservices (manifests/base/kserve-deployer-rbac.yaml); the
predictor's own service account (`storage_service_account`) carries the object-store credentials
(manifests/kserve/).
"""

import time
from collections.abc import Callable
from typing import Any

from kfp import dsl
from kfp.dsl import Input, Model

from components.image import BASE_IMAGE

GROUP, VERSION, PLURAL, KIND = "serving.kserve.io", "v1beta1", "inferenceservices", "InferenceService"
MODEL_MOUNT = "/mnt/models"  # where KServe's storage initializer puts STORAGE_URI


class InferenceServiceNotReady(RuntimeError):
    """The InferenceService did not report Ready in time; the message carries its last condition."""


def storage_uri(artifact_uri: str, sub_folder: str) -> str:
    """The exported artifact's Student folder as a URI KServe's storage initializer reads (minio:// is S3)."""
    uri = artifact_uri.rstrip("/") + (f"/{sub_folder.strip('/')}" if sub_folder else "")
    return "s3://" + uri[len("minio://") :] if uri.startswith("minio://") else uri


def build_inference_service(
    name: str,
    *,
    namespace: str,
    image: str,
    storage: str,
    service_account: str = "ppocrv3-kserve",
    min_replicas: int = 0,
    max_replicas: int = 4,
    cpu: str = "2",
    memory: str = "4Gi",
) -> dict[str, Any]:
    """The InferenceService body (the same shape as manifests/kserve/inferenceservice.yaml)."""
    container = {
        "name": "kserve-container",
        "image": image,
        "command": ["det-model", "serve"],
        "args": ["--model-dir", MODEL_MOUNT, "--model-name", name, "--host", "0.0.0.0", "--port", "8080"],
        "env": [{"name": "STORAGE_URI", "value": storage}],
        "ports": [{"containerPort": 8080, "protocol": "TCP"}],
        "resources": {"requests": {"cpu": cpu, "memory": memory}, "limits": {"cpu": cpu, "memory": memory}},
        "readinessProbe": {"httpGet": {"path": f"/v1/models/{name}", "port": 8080}},
    }
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": KIND,
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/part-of": "ppocrv3-det"},
        },
        "spec": {
            "predictor": {
                # 0: scale to zero when idle (Knative); the first request then waits for a pod and model load
                "minReplicas": min_replicas,
                "maxReplicas": max_replicas,
                "scaleMetric": "concurrency",
                "scaleTarget": 16,  # the benchmark's 16 clients per pod
                "serviceAccountName": service_account,
                "containers": [container],
            }
        },
    }


def ready_state(service: dict[str, Any]) -> tuple[bool, str]:
    """(Ready condition is True, 'reason: message' of the Ready condition)."""
    for condition in (service.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            detail = f"{condition.get('reason', '')}: {condition.get('message', '')}".strip(": ")
            return condition.get("status") == "True", detail
    return False, "no Ready condition yet"


def apply_and_wait(
    service: dict[str, Any],
    api: Any,
    *,
    timeout_s: float = 900,
    poll_s: float = 10,
    echo: Callable[[str], None] = print,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Create `service`, or replace the spec of an existing one (409), then poll until Ready."""
    from kubernetes.client.exceptions import ApiException

    name, namespace = service["metadata"]["name"], service["metadata"]["namespace"]
    where = {"group": GROUP, "version": VERSION, "namespace": namespace, "plural": PLURAL}
    try:
        api.create_namespaced_custom_object(body=service, **where)
        echo(f"InferenceService {namespace}/{name}: created")
    except ApiException as exc:
        if exc.status != 409:
            raise
        api.patch_namespaced_custom_object(name=name, body={"spec": service["spec"]}, **where)
        echo(f"InferenceService {namespace}/{name}: existed; spec replaced")
    deadline, last = clock() + timeout_s, None
    while True:
        current = api.get_namespaced_custom_object(name=name, **where)
        ready, detail = ready_state(current)
        if detail != last:
            echo(f"InferenceService {namespace}/{name}: ready={ready} {detail}")
            last = detail
        if ready:
            return current
        if clock() > deadline:
            raise InferenceServiceNotReady(
                f"InferenceService {namespace}/{name} not Ready after {timeout_s:.0f}s: {detail}"
            )
        sleep(poll_s)


@dsl.component(base_image=BASE_IMAGE, install_kfp_package=False)
def deploy_kserve(
    exported: Input[Model], name: str, image: str, min_replicas: int = 0, timeout_s: int = 900
) -> str:
    """Serve `exported`'s Student folder with KServe; returns the InferenceService URL."""
    from components.deploy_kserve import apply_and_wait, build_inference_service, storage_uri
    from components.paddlejob import current_namespace, default_api

    uri = storage_uri(exported.uri, exported.metadata.get("serve", "Student"))
    body = build_inference_service(
        name, namespace=current_namespace(), image=image, storage=uri, min_replicas=min_replicas
    )
    final = apply_and_wait(body, default_api(), timeout_s=timeout_s)
    url = (final.get("status") or {}).get("url", "")
    print(f"serving {uri} at {url}/v1/models/{name}:predict")
    return url
