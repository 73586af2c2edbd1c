"""docker/requirements.py, docker/check_paddle.py and pipelines.docker_runner's container run (no engine)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.docker_runner import run_container

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "docker"))
from check_paddle import pinned_version  # noqa: E402 (docker/ is a script folder, not a package)
from requirements import requirements  # noqa: E402

PYPROJECT = """[project]
dependencies = [{deps}]
"""


def write_pyproject(tmp_path: Path, deps: list[str]) -> Path:
    path = tmp_path / "pyproject.toml"
    path.write_text(PYPROJECT.format(deps=", ".join(f'"{d}"' for d in deps)))
    return path


@pytest.mark.parametrize(
    "deps, gpu, expected",
    [
        (["paddlepaddle==3.3.1", "numpy==2.4.6"], False, ["paddlepaddle==3.3.1", "numpy==2.4.6"]),
        (["paddlepaddle==3.3.1", "numpy==2.4.6"], True, ["paddlepaddle-gpu==3.3.1", "numpy==2.4.6"]),
        (["numpy==2.4.6", "paddlepaddle==3.0.0"], True, ["numpy==2.4.6", "paddlepaddle-gpu==3.0.0"]),
    ],
)
def test_requirements(tmp_path: Path, deps: list[str], gpu: bool, expected: list[str]) -> None:
    assert requirements(write_pyproject(tmp_path, deps), gpu) == expected


@pytest.mark.parametrize("deps", [["numpy==2.4.6"], ["paddlepaddle==3.3.1", "paddlepaddle==3.3.0"]])
def test_requirements_gpu_needs_exactly_one_paddle_pin(tmp_path: Path, deps: list[str]) -> None:
    with pytest.raises(ValueError, match="expected one 'paddlepaddle==<version>'"):
        requirements(write_pyproject(tmp_path, deps), gpu=True)


def test_requirements_of_this_project_pin_every_dependency() -> None:
    for gpu in (False, True):
        assert all("==" in r for r in requirements(gpu=gpu))


def check_paddle(tmp_path: Path, lines: list[str], *flags: str) -> subprocess.CompletedProcess:
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("\n".join(lines) + "\n")
    script = REPO / "docker" / "check_paddle.py"
    return subprocess.run([sys.executable, str(script), str(reqs), *flags], capture_output=True, text=True)


def test_check_paddle_accepts_the_installed_cpu_paddle(tmp_path: Path) -> None:
    import paddle

    done = check_paddle(tmp_path, [f"paddlepaddle=={paddle.__version__}", "numpy==2.4.6"])
    assert done.returncode == 0, done.stderr
    assert f"paddle {paddle.__version__} (CPU)" in done.stdout


@pytest.mark.parametrize(
    "pin, flags, message",
    [
        ("paddlepaddle-gpu=={version}", ("--cuda",), "is not a CUDA build"),  # what the gpu target rejects
        ("paddlepaddle==0.0.1", (), "the pin is 0.0.1"),
    ],
)
def test_check_paddle_fails_the_build(tmp_path: Path, pin: str, flags: tuple, message: str) -> None:
    import paddle

    assert not paddle.is_compiled_with_cuda(), "this test expects the CPU Paddle of the dev machines"
    done = check_paddle(tmp_path, [pin.format(version=paddle.__version__)], *flags)
    assert done.returncode == 1 and message in done.stderr


def test_pinned_version_needs_one_pin(tmp_path: Path) -> None:
    (tmp_path / "r.txt").write_text("numpy==2.4.6\n")
    with pytest.raises(ValueError, match="expected one paddlepaddle pin"):
        pinned_version(tmp_path / "r.txt")


class FakeContainer:
    def __init__(self, calls: list[str], exit_code: int, logs_error: Exception | None):
        self.calls, self.exit_code, self.logs_error = calls, exit_code, logs_error

    def start(self) -> None:
        self.calls.append("start")

    def logs(self, stream: bool, follow: bool):
        self.calls.append("logs")
        if self.logs_error:
            raise self.logs_error
        return iter([b"line 1\n", b"boom\n"])

    def wait(self) -> dict:
        self.calls.append("wait")
        return {"StatusCode": self.exit_code}

    def remove(self, force: bool) -> None:
        self.calls.append("remove")


class FakeClient:
    """Records the calls run_container makes; the real engine is exercised by test_containers_run."""

    def __init__(self, exit_code: int = 0, logs_error: Exception | None = None):
        self.calls: list[str] = []
        self.create_kwargs: dict = {}
        self.container = FakeContainer(self.calls, exit_code, logs_error)
        self.images = self

    def get(self, image: str) -> None:
        self.calls.append("image")

    @property
    def containers(self) -> "FakeClient":
        return self

    def create(self, **kwargs) -> FakeContainer:
        self.calls.append("create")
        self.create_kwargs = kwargs
        return self.container


def test_run_container_keeps_the_exit_code_and_removes_afterwards(capsys: pytest.CaptureFixture) -> None:
    client = FakeClient(exit_code=3)
    code = run_container(client, "img", ["python", "-c", "x"], {}, auto_remove=True, environment={"A": "1"})
    assert code == 3
    assert client.calls == ["image", "create", "start", "logs", "wait", "remove"]
    assert "auto_remove" not in client.create_kwargs and client.create_kwargs["environment"] == {"A": "1"}
    assert capsys.readouterr().out == "line 1\nboom\n"


def test_run_container_removes_the_container_when_streaming_fails() -> None:
    client = FakeClient(logs_error=ConnectionError("socket closed"))
    with pytest.raises(ConnectionError):
        run_container(client, "img", ["true"], {})
    assert client.calls[-1] == "remove"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--runner", "docker"], "--runner docker needs --image"),
        (["--runner", "docker", "--image", "ppocrv3-det:cpu"], "no container engine answers"),
    ],
)
def test_run_local_docker_runner_errors(
    argv: list[str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from pipelines.cli import main

    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/nothing-listens.sock")
    assert main(["run-local", "--output-root", str(tmp_path), *argv]) == 2
    assert message in capsys.readouterr().err


def test_run_local_rejects_an_unknown_runner(tmp_path: Path) -> None:
    from pipelines.local import run_local

    with pytest.raises(ValueError, match="unknown runner 'kubernetes'; known: subprocess, docker"):
        run_local({}, tmp_path, runner="kubernetes")


@pytest.mark.parametrize(
    "arguments, expected",
    [
        ({}, []),  # nothing local: no mount
        ({"student_pretrained_uri": "s3://bucket/w.pdparams"}, []),  # remote: the task fetches it
        ({"student_pretrained_uri": "/data/w/released.onnx"}, ["/data/w"]),  # a file: its folder
        (  # both sub-models from one folder: mounted once
            {"student_pretrained_uri": "/data/w/a.onnx", "teacher_pretrained_uri": "/data/w/t.pdparams"},
            ["/data/w"],
        ),
    ],
)
def test_local_pretrained_files_are_mounted_into_task_containers(arguments: dict, expected: list) -> None:
    from pipelines.local import local_input_dirs

    assert local_input_dirs(arguments) == expected
