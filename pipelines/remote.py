"""The cluster-facing commands (upload, run) as small functions around `kfp.Client`.

No KFP API server can run on the development machine: tests check the HTTP requests these functions make
against a loopback server that records them (tests/pipelines/test_client.py). See manifests/README.md.
"""

from __future__ import annotations

import datetime
import json
import re
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional

import yaml

# Docker's rule: the first path component names a registry only if it has a '.' or ':' or is localhost.
_REGISTRY = re.compile(r"^(localhost|[^/]*[.:][^/]*)/")
_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
_TAG = re.compile(r":[\w][\w.-]{0,127}$")


@dataclass(frozen=True)
class Auth:
    """How to authenticate to a multi-user KFP (what kfp.Client supports); all empty = no auth."""

    token: str = ""  # a bearer token obtained elsewhere (e.g. `kubectl create token`, an OIDC id_token)
    cookies: str = ""  # e.g. "authservice_session=..." copied from a logged-in browser (Dex/oauth2-proxy)
    sa_token_path: str = ""  # in-cluster: a projected ServiceAccount token (audience pipelines.kubeflow.org)


def image_problem(image: str) -> Optional[str]:
    """Why `image` cannot be pulled by a cluster as written (None when it names a registry and a version)."""
    if not _REGISTRY.match(image):
        return (
            f"image {image!r} names no registry, so nodes would pull "
            f"docker.io/library/{image.split('/')[-1]}; "
            "push it and compile with --image <registry host>/<name>:<tag> or @sha256:<digest>"
        )
    if "@" in image and not _DIGEST.search(image):
        return f"image {image!r}: a digest must be @sha256:<64 lowercase hex digits>"
    if "@" not in image and not _TAG.search(image.split("/", 1)[1]):
        return f"image {image!r} has no tag or digest; name the exact version (:<tag> or @sha256:<digest>)"
    return None


def spec_images(package: Path) -> set[str]:
    """Every container image of a compiled pipeline package."""
    spec = next(yaml.safe_load_all(Path(package).read_text()))
    executors = spec.get("deploymentSpec", {}).get("executors", {})
    return {e["container"]["image"] for e in executors.values() if "container" in e}


def check_images(package: Path) -> None:
    """Refuse a package a cluster could not pull (ValueError naming every bad image)."""
    problems = sorted(p for p in (image_problem(i) for i in spec_images(package)) if p)
    if problems:
        raise ValueError(f"{package}: " + "; ".join(problems))


def make_client(host: str, namespace: Optional[str] = None, auth: Auth = Auth()) -> Any:
    """kfp.Client for `host` (e.g. the Kubeflow gateway, or http://localhost:8080 after a port-forward)."""
    import kfp
    from kfp.client import ServiceAccountTokenVolumeCredentials

    kwargs: dict[str, Any] = {"host": host}
    if namespace:
        kwargs["namespace"] = namespace
    if auth.token:
        kwargs["existing_token"] = auth.token
    if auth.cookies:
        kwargs["cookies"] = auth.cookies
    if auth.sa_token_path:
        kwargs["credentials"] = ServiceAccountTokenVolumeCredentials(path=auth.sa_token_path)
    return kfp.Client(**kwargs)


def connection_problem(exc: BaseException, host: str) -> Optional[str]:
    """One line for an unreachable KFP API (refused, unknown host, timeout), found anywhere in the exception
    chain (kfp -> urllib3 MaxRetryError -> NewConnectionError -> ConnectionRefusedError); None otherwise."""
    seen: set[int] = set()
    current: Optional[BaseException] = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        name = type(current).__name__
        if isinstance(current, (ConnectionError, TimeoutError, socket.gaierror)) or name in (
            "MaxRetryError", "NewConnectionError", "NameResolutionError", "ConnectTimeoutError"
        ):
            reason = getattr(current, "reason", None) or current
            return (f"cannot reach the KFP API at {host} ({type(reason).__name__}: "
                    f"{str(reason).splitlines()[0][:160]}); check --host and that the server is up, e.g. "
                    "`kubectl port-forward -n kubeflow svc/ml-pipeline-ui 8080:80` then --host http://localhost:8080")
        current = current.__cause__ or current.__context__
    return None


def version_name(now: Optional[datetime.datetime] = None) -> str:
    return (now or datetime.datetime.now(datetime.timezone.utc)).strftime("v%Y%m%d-%H%M%S")


def find_pipeline(client: Any, name: str, namespace: Optional[str]) -> Optional[str]:
    """The id of pipeline `name` visible in `namespace` (kfp's get_pipeline_id ignores namespaces)."""
    flt = json.dumps({"predicates": [{"operation": "EQUALS", "key": "display_name", "stringValue": name}]})
    found = client.list_pipelines(filter=flt, namespace=namespace).pipelines or []
    if len(found) > 1:
        raise ValueError(f"{len(found)} pipelines are named {name!r} in namespace {namespace!r}")
    return found[0].pipeline_id if found else None


def upload(
    client: Any,
    package: Path,
    name: str,
    version: Optional[str] = None,
    namespace: Optional[str] = None,
    description: str = "",
) -> tuple[str, str]:
    """Upload `package` as pipeline `name` (in `namespace`) or as a new version: (pipeline, version) ids."""
    check_images(package)
    pipeline_id = find_pipeline(client, name, namespace)
    if pipeline_id is None:
        created = client.upload_pipeline(
            str(package), pipeline_name=name, description=description or None, namespace=namespace
        )
        versions = client.list_pipeline_versions(created.pipeline_id, page_size=1, sort_by="created_at desc")
        return created.pipeline_id, versions.pipeline_versions[0].pipeline_version_id
    made = client.upload_pipeline_version(
        str(package),
        pipeline_version_name=version or version_name(),
        pipeline_id=pipeline_id,
        description=description or None,
    )
    return pipeline_id, made.pipeline_version_id


def start_version(
    client: Any,
    pipeline_id: str,
    version_id: str,
    arguments: Mapping[str, Any],
    experiment: str,
    namespace: Optional[str] = None,
    run_name: Optional[str] = None,
) -> str:
    """Start uploaded version `version_id` with ALL `arguments` (the compare page shows only passed ones)."""
    exp = client.create_experiment(experiment, namespace=namespace)
    run = client.run_pipeline(
        experiment_id=exp.experiment_id,
        job_name=run_name or f"ppocrv3-det-{version_name()}",
        params=dict(arguments),
        pipeline_id=pipeline_id,
        version_id=version_id,
    )
    return run.run_id


def disable_caching(package: Path) -> None:
    """Turn caching off for every task of a compiled package (a run by version id cannot override it)."""
    docs = list(yaml.safe_load_all(Path(package).read_text()))
    spec = docs[0]
    for dag in _dags(spec):
        for task in dag.get("tasks", {}).values():
            task["cachingOptions"] = {}
    Path(package).write_text(yaml.safe_dump_all(docs, sort_keys=False))


def _dags(spec: dict) -> Iterable[dict]:
    yield spec["root"]["dag"]
    for component in spec.get("components", {}).values():
        if "dag" in component:
            yield component["dag"]


def results_uri_problem(uri: str, namespace: Optional[str]) -> Optional[str]:
    """In multi-user KFP a namespace's object-store keys may write only below its own prefixes of bucket
    `mlpipeline`; a results_uri elsewhere in that bucket fails at the end of a long run (AccessDenied)."""
    if not (uri and namespace and uri.startswith("s3://mlpipeline/")):
        return None
    key = uri.removeprefix("s3://mlpipeline/")
    allowed = (f"private-artifacts/{namespace}/", f"private/{namespace}/", "shared/")
    if key.startswith(allowed):
        return None
    return (
        f"results_uri {uri!r} is outside what namespace {namespace!r} may write in bucket mlpipeline; "
        f"use s3://mlpipeline/private-artifacts/{namespace}/ppocrv3-results "
        f"(or private/{namespace}/..., shared/...)"
    )
