"""The cluster-facing commands (upload, run) as small functions around `kfp.Client`.

Only request building is tested here (mocked client, autospec): no KFP API server can run on the
development machine. See manifests/README.md for a cluster recipe.
"""

from __future__ import annotations

import datetime
import socket
from pathlib import Path
from typing import Any, Mapping, Optional


def make_client(host: str, namespace: Optional[str] = None, token: Optional[str] = None) -> Any:
    """kfp.Client for `host` (e.g. http://localhost:8080 after a port-forward of ml-pipeline-ui)."""
    import kfp

    kwargs: dict[str, Any] = {"host": host, "existing_token": token}
    if namespace:
        kwargs["namespace"] = namespace
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


def upload(
    client: Any, package: Path, name: str, version: Optional[str] = None, description: str = ""
) -> tuple[str, Optional[str]]:
    """Upload `package` as pipeline `name`, or as a new version if it exists; returns (pipeline, version)."""
    pipeline_id = client.get_pipeline_id(name)
    if pipeline_id is None:
        created = client.upload_pipeline(str(package), pipeline_name=name, description=description or None)
        return created.pipeline_id, None
    made = client.upload_pipeline_version(
        str(package),
        pipeline_version_name=version or version_name(),
        pipeline_id=pipeline_id,
        description=description or None,
    )
    return pipeline_id, made.pipeline_version_id


def submit(
    client: Any,
    package: Path,
    arguments: Mapping[str, Any],
    experiment: str,
    run_name: Optional[str] = None,
    enable_caching: Optional[bool] = None,
) -> str:
    """Start a run of `package`, passing ALL `arguments` (the KFP compare page shows only passed ones)."""
    result = client.create_run_from_pipeline_package(
        str(package),
        arguments=dict(arguments),
        run_name=run_name or f"ppocrv3-det-{version_name()}",
        experiment_name=experiment,
        enable_caching=enable_caching,
    )
    return result.run_id
