"""Components in their real image: one alone, one failing on purpose, the whole DAG, then infer on the host.

Run with `make test-containers` (marker `containers`; builds the image first, ~minutes on 2 cores).
"""


import subprocess
import sys
from pathlib import Path

import pytest
from kfp import dsl, local
from kfp.dsl import Dataset

from components.fetch_hiertext import fetch_hiertext
from pipelines.docker_runner import docker_runner, exit_codes_kept
from pipelines.local import TINY, run_local
from support.paths import RELEASED_ONNX

pytestmark = pytest.mark.containers


def fetch_in(image: str, data_uri: str):
    """A one-task pipeline: fetch_hiertext in `image`."""

    @dsl.pipeline(name="fetch-only")
    def fetch_only() -> Dataset:
        return fetch_hiertext(data_uri=data_uri).set_container_image(image).outputs["dataset"]

    return fetch_only


def test_one_component_runs_in_the_image(image: str, tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    local.init(runner=docker_runner(), pipeline_root=str(tmp_path))
    with exit_codes_kept():
        dataset = fetch_in(image, "synthetic://6")().output
    out = Path(dataset.path)
    assert (out / "label_train.txt").read_text().strip() and (out / "label_eval.txt").read_text().strip()
    assert dataset.metadata["uri"] == "synthetic://6"
    assert "fetched synthetic://6" in capfd.readouterr().out  # the component's own print, from the container


def test_failing_component_ends_failed_with_its_error(
    image: str, tmp_path: Path, capfd: pytest.CaptureFixture
) -> None:
    """Fails if pipelines.docker_runner's workaround is dropped: kfp's own run then crashes on the vanished
    container or reports this fast failure as SUCCESS (kubeflow/pipelines#13332)."""
    local.init(runner=docker_runner(), pipeline_root=str(tmp_path), raise_on_error=True)
    with exit_codes_kept(), pytest.raises(RuntimeError, match="FAILURE"):
        fetch_in(image, "nosuch://data.tar")()
    logs = capfd.readouterr()
    assert "nosuch://data.tar: unknown scheme 'nosuch'" in logs.out + logs.err


def test_whole_pipeline_in_containers_then_infer_on_host(image: str, tmp_path: Path) -> None:
    """The default recipe (student-finetune) on plumbing-sized data; its local .onnx start is a host file,
    which the containers see through a read-only mount."""
    if not RELEASED_ONNX.exists():
        pytest.skip(f"{RELEASED_ONNX} is not there")
    released = {"student_pretrained_uri": str(RELEASED_ONNX.resolve())}
    run = run_local({**TINY, **released}, tmp_path / "outputs", runner="docker", image=image)
    assert 0.0 <= run.metrics["hmean"] <= 1.0 and run.metrics["images"] > 0
    student = run.serving
    assert (student / "inference.pdmodel").exists() and (student / "inference.pdiparams").exists()
    picture = next((run.run_dir / "fetch-hiertext" / "dataset" / "raw" / "images").glob("*.jpg"))
    done = subprocess.run(
        [sys.executable, "-m", "det_model", "infer", "--model-dir", str(student), "--image", str(picture)]
        + ["--out", str(tmp_path / "infer")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert any((tmp_path / "infer").iterdir())
