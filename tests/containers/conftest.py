"""Fixtures for the container tests: a Docker-API engine and the cpu image built from this checkout.

The engine is docker when its daemon answers, else podman (docker/engine.sh: private config and image store in
one cache folder outside the checkout, the Docker API served on a socket there, stopped by PID afterwards).
Without any engine every test that needs one is skipped with the same single reason.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

REPO = Path(__file__).resolve().parents[2]
ENGINE_SH = REPO / "docker" / "engine.sh"


def _script(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, cwd=REPO, env={**os.environ, **(env or {})})


@pytest.fixture(scope="session")
def engine() -> str:
    """'docker' or 'podman' (podman set up here where possible: root + apt); skips when there is none."""
    detected = _script(str(ENGINE_SH), "detect")
    if detected.returncode != 0:
        pytest.skip(f"no container engine: {detected.stderr.strip()}")
    name = detected.stdout.strip()
    if name == "podman":
        setup = _script(str(ENGINE_SH), "setup")
        if setup.returncode != 0:
            pytest.skip(f"no container engine: podman setup failed: {setup.stderr.strip()[-500:]}")
        for line in setup.stdout.splitlines():  # export CONTAINERS_CONF=..., the private configuration
            key, _, value = line.removeprefix("export ").partition("=")
            os.environ[key] = value
    return name


@pytest.fixture(scope="session")
def docker_host(engine: str) -> Iterator[str]:
    """A Docker-API socket in DOCKER_HOST for the docker SDK (podman's API service: started, then stopped)."""
    if engine == "docker":
        yield os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        return
    name = f"pytest-{os.getpid()}"  # a socket of our own: other runs may serve the same store meanwhile
    started = _script(str(ENGINE_SH), "start-api", name)
    if started.returncode != 0:
        pytest.fail(f"podman API service did not start: {started.stderr.strip()}")
    host = started.stdout.strip().removeprefix("DOCKER_HOST=")
    previous = os.environ.get("DOCKER_HOST")
    os.environ["DOCKER_HOST"] = host
    try:
        yield host
    finally:
        _script(str(ENGINE_SH), "stop-api", name)
        if previous is None:
            os.environ.pop("DOCKER_HOST", None)
        else:
            os.environ["DOCKER_HOST"] = previous


@pytest.fixture(scope="session")
def image(engine: str, docker_host: str) -> str:
    """The cpu image built from this checkout by `make image`'s script (layers reused when unchanged), under
    a name of this checkout's own: checkouts building at the same time into one store would otherwise move
    the shared `ppocrv3-det:cpu` tag to their own sources under each other's tests."""
    name = f"ppocrv3-det-test-{hashlib.sha256(str(REPO).encode()).hexdigest()[:8]}"
    log = Path(os.environ.get("CONTAINERS_CACHE", REPO)) / f"{name}-build.log"
    built = _script(
        str(REPO / "docker" / "build-image.sh"), env={"ENGINE": engine, "TARGETS": "cpu", "IMAGE": name}
    )
    log.write_text(built.stdout + built.stderr)
    if built.returncode != 0:
        pytest.fail(f"image build failed (log: {log}):\n{(built.stdout + built.stderr)[-3000:]}")
    found = re.findall(r"^image (\S+): (\d+) MB, built in (\d+) s$", built.stdout, re.MULTILINE)
    assert found, f"build-image.sh printed no image line:\n{built.stdout[-2000:]}"
    name, size_mb, seconds = found[-1]
    print(f"\nimage {name}: {size_mb} MB, built in {seconds} s")
    return name
