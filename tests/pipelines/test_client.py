"""upload/run/compare through the real kfp.Client against a loopback server that records the requests.

These are NOT integration tests: no KFP API server can run on this machine. They check the exact HTTP requests
the commands send (paths, namespace, credentials, bodies) and the `--set` typing.
"""

from __future__ import annotations

import email
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Iterator
from unittest import mock

import kfp
import pytest
import yaml
from support.fake_kfp_api import FakeKfpApi, serve

from pipelines import remote
from pipelines.cli import main
from pipelines.params import defaults, parse_sets
from pipelines.pipeline import ppocrv3_det

IMAGE = "registry.example.com/ocr/ppocrv3-det:1.0"
NS = "ppocrv3"
RESULTS = f"s3://mlpipeline/private-artifacts/{NS}/ppocrv3-results"


@pytest.fixture
def kfp_api() -> Iterator[tuple[FakeKfpApi, str]]:
    api = FakeKfpApi()
    server, url = serve(api)
    yield api, url
    server.shutdown()
    server.server_close()


def cli(url: str, command: str, *extra: str) -> int:
    return main([command, "--host", url, "--namespace", NS, "--image", IMAGE, *extra])


# ------------------------------------------------------------------------------------ 11. auth, namespace
@pytest.mark.parametrize(
    "flags, header, value",
    [
        (["--token", "tok-123"], "authorization", "Bearer tok-123"),
        (["--cookies", "authservice_session=abc"], "cookie", "authservice_session=abc"),
    ],
)
def test_every_request_carries_the_credentials(kfp_api, flags: list[str], header: str, value: str) -> None:
    api, url = kfp_api
    assert cli(url, "upload", *flags) == 0
    assert api.requests and all(r.headers.get(header) == value for r in api.requests)


def test_service_account_token_file_becomes_the_bearer_token(kfp_api, tmp_path: Path) -> None:
    api, url = kfp_api
    token = tmp_path / "token"
    token.write_text("sa-token-9")
    assert cli(url, "upload", "--sa-token-path", str(token)) == 0
    assert {r.headers.get("authorization") for r in api.requests} == {"Bearer sa-token-9"}


def test_upload_creates_the_pipeline_in_the_namespace(kfp_api) -> None:
    api, url = kfp_api
    assert cli(url, "upload") == 0
    (lookup,) = api.calls("GET", "/apis/v2beta1/pipelines")
    assert lookup.query["namespace"] == [NS]
    (upload,) = api.calls("POST", "/apis/v2beta1/pipelines/upload")
    assert upload.query["namespace"] == [NS] and upload.query["name"] == ["ppocrv3-det"]
    spec = uploaded_spec(upload)  # the compiled package itself
    assert spec["pipelineInfo"]["name"] == "ppocrv3-det" and IMAGE in json.dumps(spec["deploymentSpec"])


def test_upload_adds_a_version_when_the_pipeline_exists(kfp_api) -> None:
    api, url = kfp_api
    api.existing_pipelines.append({"pipeline_id": "p-old", "display_name": "ppocrv3-det"})
    assert cli(url, "upload", "--version", "v2") == 0
    (made,) = api.calls("POST", "/apis/v2beta1/pipelines/upload_version")
    assert made.query["pipelineid"] == ["p-old"] and made.query["name"] == ["v2"]
    assert not api.calls("POST", "/apis/v2beta1/pipelines/upload")


def test_run_starts_the_uploaded_version_by_id_with_every_argument(kfp_api) -> None:
    api, url = kfp_api
    api.existing_pipelines.append({"pipeline_id": "p-old", "display_name": "ppocrv3-det"})
    sets = ["student_epochs=3", "use_amp=true", "cml_overrides=Global.seed=7", f"results_uri={RESULTS}"]
    assert cli(url, "run", "--experiment", "ocr", *[a for s in sets for a in ("--set", s)]) == 0
    (experiment,) = api.calls("POST", "/apis/v2beta1/experiments")
    assert experiment.json() == {"display_name": "ocr", "namespace": NS}
    (run,) = api.calls("POST", "/apis/v2beta1/runs")
    body = run.json()
    assert body["pipeline_version_reference"] == {"pipeline_id": "p-old", "pipeline_version_id": "v-next"}
    assert "pipeline_spec" not in body and body["experiment_id"] == "e-1"
    arguments = body["runtime_config"]["parameters"]
    assert set(arguments) == set(defaults(ppocrv3_det))  # all parameters, so the KFP compare page shows them
    assert arguments["student_epochs"] == 3 and arguments["use_amp"] is True
    assert arguments["cml_overrides"] == ["Global.seed=7"] and arguments["teacher_epochs"] == 1200


def test_run_of_an_existing_version_uploads_nothing(kfp_api) -> None:
    api, url = kfp_api
    api.existing_pipelines.append({"pipeline_id": "p-old", "display_name": "ppocrv3-det"})
    assert cli(url, "run", "--version-id", "v-7") == 0
    assert not [r for r in api.requests if "upload" in r.path]
    (run,) = api.calls("POST", "/apis/v2beta1/runs")
    assert run.json()["pipeline_version_reference"]["pipeline_version_id"] == "v-7"


def uploaded_spec(upload) -> dict:
    """The pipeline spec inside a multipart upload request."""
    head = f"Content-Type: {upload.headers['content-type']}\r\n\r\n".encode()
    (part,) = email.message_from_bytes(head + upload.body).get_payload()
    return next(yaml.safe_load_all(part.get_payload(decode=True)))


def test_no_cache_uploads_a_version_with_caching_off(kfp_api) -> None:
    api, url = kfp_api
    assert cli(url, "run", "--no-cache") == 0
    (upload,) = api.calls("POST", "/apis/v2beta1/pipelines/upload")
    tasks = uploaded_spec(upload)["root"]["dag"]["tasks"]
    assert tasks and all(t.get("cachingOptions") == {} for t in tasks.values())


def test_run_refuses_a_results_uri_the_namespace_cannot_write(kfp_api, capsys) -> None:
    api, url = kfp_api
    assert cli(url, "run", "--set", "results_uri=s3://mlpipeline/ppocrv3-results") == 2
    assert "private-artifacts/ppocrv3" in capsys.readouterr().err and not api.requests


# ----------------------------------------------------------------------------------------------- 4. image
@pytest.mark.parametrize(
    "image, ok",
    [
        ("ppocrv3-det:gpu", False),  # the old default: docker.io/library/ppocrv3-det does not exist
        ("ocr/ppocrv3-det:gpu", False),  # a bare first component is a Docker Hub user, not a registry
        ("registry.example.com/ocr/ppocrv3-det", False),  # no tag: whatever :latest is today
        ("registry.example.com/ocr/ppocrv3-det@sha256:abc", False),  # truncated digest
        ("registry.example.com/ocr/ppocrv3-det:1.0", True),
        ("registry.example.com:5000/ocr/ppocrv3-det:gpu", True),
        ("localhost/ppocrv3-det:cpu", True),
        ("docker.io/myorg/ppocrv3-det:gpu", True),
        ("registry.example.com/ocr/ppocrv3-det@sha256:" + "0" * 64, True),
    ],
)
def test_image_needs_a_registry_and_a_version(image: str, ok: bool) -> None:
    assert (remote.image_problem(image) is None) == ok


@pytest.mark.parametrize("command", ["upload", "run"])
def test_upload_and_run_refuse_an_image_without_a_registry(kfp_api, capsys, command: str) -> None:
    api, url = kfp_api
    assert main([command, "--host", url, "--namespace", NS]) == 2  # the default image: no registry
    assert "names no registry" in capsys.readouterr().err
    assert not [r for r in api.requests if r.method == "POST"]


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


def test_compare_remote_run_reads_api_and_results(tmp_path: Path) -> None:
    from pipelines.compare import load_remote_run

    client = mock.create_autospec(kfp.Client, instance=True)
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
