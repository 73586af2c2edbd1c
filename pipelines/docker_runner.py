"""kfp.local's DockerRunner with exit codes that survive fast-exiting containers.

kfp 2.17 starts each task with `containers.run(..., auto_remove=True)`. Podman deletes a container that exits
quickly before kfp reads its exit code, and kfp then crashes ("no such container") or reports a FAILED task as
SUCCESS (kubeflow/pipelines#13332). `ContainerTaskHandler` runs the container itself instead: create, start,
stream the logs, wait for the exit code, remove. `exit_codes_kept()` installs it for the duration of a run.

Any Docker-API socket works (`DOCKER_HOST`): Docker itself, or `podman system service` (docker/engine.sh).
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator, Sequence

from kfp import local
from kfp.local import docker_task_handler, status


def ensure_image(client: Any, image: str) -> None:
    """Pull `image` only when the engine does not have it (podman lists local builds as localhost/...)."""
    import docker

    try:
        client.images.get(image)
    except docker.errors.ImageNotFound:
        print(f"pulling image {image!r}")
        client.images.pull(image)


def run_container(client: Any, image: str, command: Sequence[str], volumes: dict, **run_args: Any) -> int:
    """Run one container to completion, printing its output; return its exit code. Always removes it."""
    run_args.pop("auto_remove", None)  # removal happens below, after the exit code has been read
    ensure_image(client, image)
    container = client.containers.create(image=image, command=list(command), volumes=volumes, **run_args)
    try:
        container.start()
        for chunk in container.logs(stream=True, follow=True):
            print(chunk.decode(errors="replace"), end="")
        return int(container.wait()["StatusCode"])
    finally:
        container.remove(force=True)


class ContainerTaskHandler(docker_task_handler.DockerTaskHandler):
    """kfp's Docker task handler (same mounts, env and runner arguments) around `run_container`.

    `extra_volumes`: host folders every task also sees (read-only), e.g. local pretrained weights."""

    extra_volumes: dict = {}

    def run(self) -> status.Status:
        import docker

        client = docker.from_env()
        try:
            run_args = dict(self.runner.container_run_args)
            if self.env_vars:
                run_args["environment"] = self.env_vars
            code = run_container(
                client,
                self.image,
                self.full_command,
                {**self.get_volumes_to_mount(client), **self.extra_volumes},
                **run_args,
            )
        finally:
            client.close()
        return status.Status.SUCCESS if code == 0 else status.Status.FAILURE


@contextlib.contextmanager
def exit_codes_kept(read_only_dirs: Sequence[str] = ()) -> Iterator[None]:
    """Within this block, kfp.local runs DockerRunner tasks through ContainerTaskHandler; each folder of
    `read_only_dirs` is mounted read-only at the same path in every task's container."""
    original = docker_task_handler.DockerTaskHandler
    docker_task_handler.DockerTaskHandler = ContainerTaskHandler
    ContainerTaskHandler.extra_volumes = {d: {"bind": d, "mode": "ro"} for d in read_only_dirs}
    try:
        yield
    finally:
        docker_task_handler.DockerTaskHandler = original
        ContainerTaskHandler.extra_volumes = {}


def docker_runner(**container_run_args: Any) -> local.DockerRunner:
    """A DockerRunner, with a clear error when the `docker` SDK is missing or no engine answers."""
    try:
        import docker
    except ImportError as exc:
        raise ValueError("--runner docker needs the docker SDK: pip install 'det-model[containers]'") from exc
    try:
        client = docker.from_env()  # fetches the API version: fails when nothing listens
        client.ping()
        client.close()
    except docker.errors.DockerException as exc:
        raise ValueError(
            f"no container engine answers ({exc}); start one and set DOCKER_HOST "
            "(here: eval \"$(docker/engine.sh setup)\" && export $(docker/engine.sh start-api))"
        ) from exc
    return local.DockerRunner(**container_run_args)
