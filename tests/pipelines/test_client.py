"""Request building of upload/run/compare against a mocked kfp.Client (autospec).

These are NOT integration tests: no KFP API server can run on this machine. They check that the commands call
the kfp 2.17 client with the right arguments (signature drift fails through autospec), and the `--set` typing.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import kfp
import pytest
import yaml

from pipelines import remote
from pipelines.cli import main
from pipelines.params import defaults, parse_sets
from pipelines.pipeline import ppocrv3_det


@pytest.fixture
def client() -> mock.MagicMock:
    return mock.create_autospec(kfp.Client, instance=True)


def test_upload_creates_the_pipeline_first_time(client: mock.MagicMock, tmp_path: Path) -> None:
    client.get_pipeline_id.return_value = None
    client.upload_pipeline.return_value = SimpleNamespace(pipeline_id="p-1")
    assert remote.upload(client, tmp_path / "p.yaml", "ppocrv3-det") == ("p-1", None)
    client.upload_pipeline.assert_called_once_with(
        str(tmp_path / "p.yaml"), pipeline_name="ppocrv3-det", description=None
    )
    client.upload_pipeline_version.assert_not_called()


def test_upload_adds_a_version_when_the_pipeline_exists(client: mock.MagicMock, tmp_path: Path) -> None:
    client.get_pipeline_id.return_value = "p-1"
    client.upload_pipeline_version.return_value = SimpleNamespace(pipeline_version_id="v-9")
    assert remote.upload(client, tmp_path / "p.yaml", "ppocrv3-det", "v2") == ("p-1", "v-9")
    kwargs = client.upload_pipeline_version.call_args.kwargs
    assert (kwargs["pipeline_version_name"], kwargs["pipeline_id"]) == ("v2", "p-1")
    client.upload_pipeline.assert_not_called()


def test_run_command_compiles_and_passes_every_argument_typed(client: mock.MagicMock) -> None:
    client.create_run_from_pipeline_package.return_value = SimpleNamespace(run_id="r-1")
    with mock.patch.object(remote, "make_client", return_value=client) as make:
        code = main(
            [
                "run",
                "--host",
                "http://kfp.local:8080",
                "--experiment",
                "ocr",
                "--no-cache",
                "--set",
                "student_epochs=3",
                "--set",
                "use_amp=true",
                "--set",
                "student_learning_rate=2e-4",
                "--set",
                "cml_overrides=Global.seed=7",
                "--set",
                "cml_overrides=Global.print_batch_step=1",
            ]
        )
    assert code == 0
    make.assert_called_once_with("http://kfp.local:8080", None)
    call = client.create_run_from_pipeline_package.call_args
    package, arguments = call.args[0], call.kwargs["arguments"]
    assert call.kwargs["experiment_name"] == "ocr" and call.kwargs["enable_caching"] is False
    assert set(arguments) == set(defaults(ppocrv3_det))  # all parameters, so the KFP compare page shows them
    assert arguments["student_epochs"] == 3 and arguments["use_amp"] is True
    assert arguments["student_learning_rate"] == pytest.approx(2e-4)
    assert arguments["cml_overrides"] == ["Global.seed=7", "Global.print_batch_step=1"]
    assert arguments["teacher_epochs"] == 1200  # untouched default
    assert package.endswith("ppocrv3_det.yaml")


def test_upload_command_builds_a_real_package(client: mock.MagicMock) -> None:
    client.get_pipeline_id.return_value = None
    seen = {}

    def capture(path: str, **kwargs: object) -> SimpleNamespace:
        seen["spec"] = next(yaml.safe_load_all(Path(path).read_text()))
        return SimpleNamespace(pipeline_id="p-2")

    client.upload_pipeline.side_effect = capture
    with mock.patch.object(remote, "make_client", return_value=client):
        assert main(["upload", "--host", "http://h", "--image", "reg/ocr:7"]) == 0
    assert seen["spec"]["pipelineInfo"]["name"] == "ppocrv3-det"
    assert "reg/ocr:7" in json.dumps(seen["spec"]["deploymentSpec"])


def test_client_construction_is_offline_with_a_namespace() -> None:
    # kfp.Client only probes healthz for the default namespace; with one set it builds without a server.
    client = remote.make_client("http://127.0.0.1:9", namespace="team-ocr")
    assert isinstance(client, kfp.Client)


@pytest.mark.parametrize(
    "item, expected",
    [
        ("gpus=4", ("gpus", 4)),  # integer
        ("teacher_learning_rate=0.01", ("teacher_learning_rate", 0.01)),  # float
        ("use_amp=no", ("use_amp", False)),  # boolean words
        ('dml_overrides=["A=1", "B=2"]', ("dml_overrides", ["A=1", "B=2"])),  # JSON list
        ("data_uri=s3://b/k=v.tar", ("data_uri", "s3://b/k=v.tar")),  # only the first '=' splits
    ],
)
def test_set_values_are_typed_by_the_pipeline(item: str, expected: tuple[str, object]) -> None:
    assert parse_sets(ppocrv3_det, [item]) == dict([expected])


@pytest.mark.parametrize(
    "item, message",
    [
        ("epochs=2", "unknown parameter"),  # not a parameter (the names are per stage)
        ("gpus=two", "not a valid Integer"),
        ("use_amp=maybe", "not a valid Boolean"),
        ("gpus", "expected key=value"),
    ],
)
def test_bad_set_values_are_clear_errors(item: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_sets(ppocrv3_det, [item])


def test_compare_remote_run_reads_api_and_results(client: mock.MagicMock, tmp_path: Path) -> None:
    from pipelines.compare import load_remote_run

    client.get_run.return_value = SimpleNamespace(
        display_name="big-run", state="SUCCEEDED", runtime_config=SimpleNamespace(parameters={"gpus": 8})
    )
    results = tmp_path / "results" / "r-7"
    results.mkdir(parents=True)
    (results / "metrics.json").write_text(json.dumps({"hmean": 0.8, "precision": 0.9}))
    record = load_remote_run(client, "r-7", (tmp_path / "results").as_uri())
    client.get_run.assert_called_once_with("r-7")
    assert record.metrics == {"eval/hmean": 0.8, "eval/precision": 0.9}
    assert record.parameters == {"gpus": 8} and record.state == "SUCCEEDED"
