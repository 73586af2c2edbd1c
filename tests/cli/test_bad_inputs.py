"""Issue 16's table: every wrong input gives exit code != 0 and one `error:` line naming the file, line or field
(or a counted skip), never a traceback. Each case builds its bad input under tmp_path and runs the command
in-process. docs/bad_inputs.md lists the same cases for users."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import pytest

from det_model.training.target_watch import PATIENCE
from support.bad_inputs import (
    eval_args,
    icdar_input,
    inspect_input,
    train_args,
    without_keys,
    write_dataset,
    write_jpeg,
)
from support.infer_fixtures import RELEASED_ONNX

READ_ONLY = "/sys"  # not writable even by root (tests run as root, so chmod cannot make a read-only folder)


@pytest.fixture(scope="session")
def student_weights(tmp_path_factory) -> Path:
    """Random-init student weights: a file `eval` and `export` can load."""
    import paddle

    from det_model.config import config_path, load_config
    from det_model.modeling import build_model

    paddle.seed(0)
    model = build_model(load_config(config_path("ch_PP-OCRv3_det_student.yml")).Architecture)
    path = tmp_path_factory.mktemp("weights") / "student.pdparams"
    paddle.save(model.state_dict(), str(path))
    return path


@dataclass(frozen=True)
class Case:
    row: str  # the row of issue 16
    build: Callable[[Path, Path], list[str]]  # (tmp_path, student weights) -> argv
    code: int
    message: str  # regex that must appear in the output (stderr, then stdout)
    program: str = "det-model"
    absent: tuple[str, ...] = ()  # files (relative to tmp_path) that must not have been written
    check: Optional[Callable[[Path], bool]] = None  # what must hold afterwards (for counted skips)


def _label_lines(path: Path) -> list[str]:
    return [line.split("\t")[0] for line in path.read_text().splitlines()]


def _data(tmp: Path) -> Path:
    write_dataset(tmp / "data", count=4)
    return tmp / "data"


def _all_corrupt(tmp: Path) -> Path:
    data = tmp / "data"
    write_dataset(data, count=4, corrupt=(0, 1, 2, 3))
    return data


def _override(command: str, recipe: str, *overrides: str) -> Callable[[Path, Path], list[str]]:
    return lambda tmp, _: [command, "-c", f"ch_PP-OCRv3_det_{recipe}.yml", "-o", *overrides]


def _garbage(tmp: Path, name: str, content: bytes) -> Path:
    (tmp / name).write_bytes(content)
    return tmp / name


def _no_text_in_crops(tmp: Path, _: Path) -> list[str]:
    """Every box is ###: like a crop too small for the text, no batch has a scored text pixel."""
    write_dataset(tmp / "data", count=PATIENCE, text="###")
    return train_args(tmp / "data", tmp / "out", "Train.loader.batch_size_per_card=1",
                      "Global.eval_batch_step=[0, 0]")


def _compare_not_a_run(tmp: Path, _: Path) -> list[str]:
    (tmp / "holiday_photos").mkdir()
    (tmp / "holiday_photos" / "beach.jpg").write_bytes(b"x")
    return ["compare", str(tmp / "holiday_photos"), "--out", str(tmp / "cmp")]


CASES = {
    "1-cml-frozen-teacher-without-weights": Case(
        "1", lambda tmp, _: train_args(_data(tmp), tmp / "out", recipe="cml"), 2,
        r"Architecture\.Models\.Teacher\.freeze_params is true but no weights are loaded into Teacher.*"
        r"-o Architecture\.Models\.Teacher\.pretrained=", absent=("out/latest.pdparams",)),
    "1-cml-teacher-given-student-weights": Case(
        "1", lambda tmp, w: train_args(_data(tmp), tmp / "out", f"Architecture.Models.Teacher.pretrained={w}",
                                       recipe="cml"), 2,
        r"(Architecture\.Models\.Teacher\.pretrained=.*student\.pdparams does not fit the model: loaded \d+ of "
        r"\d+ model keys; missing \d+ \(first: |student\.pdparams: none of its \d+ keys match the model)",
        absent=("out/latest.pdparams",)),
    "2-train-pretrained-does-not-fit": Case(
        "2", lambda tmp, w: train_args(_data(tmp), tmp / "out", "Global.pretrained_model="
                                       f"{without_keys(w, tmp / 'no_neck.pdparams', 'neck.')}"), 2,
        r"Global\.pretrained_model=.*no_neck\.pdparams does not fit the model: loaded \d+ of \d+ model keys; "
        r"missing \d+ \(first: neck\..*only the DB head's threshold branch", absent=("out/latest.pdparams",)),
    "2-eval-pretrained-does-not-fit": Case(
        "2", lambda tmp, w: eval_args(_data(tmp), without_keys(w, tmp / "no_head.pdparams", "head.binarize."),
                                      tmp / "eval"), 2,
        r"no_head\.pdparams does not fit the model: .*missing \d+ \(first: head\.binarize\.",
        absent=("eval/metrics.json",)),
    "3-train-no-usable-sample": Case(
        "3", lambda tmp, _: train_args(_all_corrupt(tmp), tmp / "out"), 2,
        r"label\.txt'\]: no usable training sample in epoch 1.*\n.*corrupt_image: 4 \(e\.g\. .*label\.txt:\d",
        absent=("out/latest.pdparams",)),
    "3-eval-no-usable-image": Case(
        "3", lambda tmp, w: eval_args(_all_corrupt(tmp), w, tmp / "eval"), 2,
        r"no usable evaluation image.*\n.*corrupt_image: 4 \(e\.g\. .*label\.txt:\d",
        absent=("eval/metrics.json",)),
    "6-compare-not-a-run-folder": Case(
        "6", _compare_not_a_run, 2, r"holiday_photos: not a run folder.*run_config\.json", program="pipelines",
        absent=("cmp/comparison.md",)),
    "7-inspect-truncated-jpeg": Case(
        "7", lambda tmp, _: inspect_input(tmp, "truncated"), 1,
        r"truncated_image: 1 \(e\.g\. .*label\.txt:2: .*bad\.jpg: truncated JPEG"),
    "7-inspect-text-file-named-jpg": Case(
        "7", lambda tmp, _: inspect_input(tmp, "text"), 1,
        r"corrupt_image: 1 \(e\.g\. .*label\.txt:2: .*bad\.jpg: not a decodable image"),
    "7-inspect-missing-image-is-named": Case(
        "7", lambda tmp, _: inspect_input(tmp, "missing"), 1,
        r"missing_image: 1 \(e\.g\. .*label\.txt:2: .*bad\.jpg: No such file"),
    "7-inspect-box-far-outside": Case(
        "7", lambda tmp, _: inspect_input(tmp, "far_box"), 1,
        r"box_outside_image: 1 \(e\.g\. .*label\.txt:2: box 0 lies outside the 64x64 image"),
    "7-convert-missing-image-not-written": Case(
        "7", lambda tmp, _: icdar_input(tmp, "missing_image"), 0,
        r"missing images 1 \(not written\)[\s\S]*missing_image: 1 \(e\.g\. .*gt_img_2\.txt: image "
        r"images/img_2\.jpg not found",
        check=lambda tmp: _label_lines(tmp / "label.txt") == ["images/img_1.jpg"]),
    "7-convert-malformed-gt-line-skipped": Case(
        "7", lambda tmp, _: icdar_input(tmp, "bad_line"), 0,
        r"malformed_ground_truth: 1 \(e\.g\. .*gt_img_1\.txt:2: non-numeric coordinate",
        check=lambda tmp: _label_lines(tmp / "label.txt") == ["images/img_1.jpg", "images/img_2.jpg"]),
    "9-upload-no-server": Case(
        "9", lambda tmp, _: ["upload", "--host", "http://127.0.0.1:9"], 1,
        r"^error: cannot reach the KFP API at http://127\.0\.0\.1:9 \(.*Connection refused.*check --host",
        program="pipelines"),
    "9-run-no-server": Case(
        "9", lambda tmp, _: ["run", "--host", "http://127.0.0.1:9"], 1,
        r"error: cannot reach the KFP API at http://127\.0\.0\.1:9", program="pipelines"),
    "9-config-is-a-folder": Case(
        "9", lambda tmp, _: ["train", "-c", str(tmp)], 2, r"train: error: .*: is a folder; -c takes a config \.yml"),
    "9-import-onnx-of-a-non-onnx-file": Case(
        "9", lambda tmp, _: ["import-onnx", str(_garbage(tmp, "model.onnx", b"hello\n")), str(tmp / "out")], 2,
        r"import-onnx: error: .*model\.onnx: not an ONNX model \(DecodeError", absent=("out.pdparams",)),
    "9-synth-into-a-read-only-folder": Case(
        "9", lambda tmp, _: ["data", "synth", "--out", f"{READ_ONLY}/det_synth", "-n", "1"], 2,
        r"synth: error: /sys/det_synth: (Permission denied|Operation not permitted|Read-only file system); "),
    "9-convert-into-a-read-only-folder": Case(
        "9", lambda tmp, _: [*icdar_input(tmp, "missing_image")[:-1], f"{READ_ONLY}/det_labels/label.txt"], 2,
        r"convert: error: /sys/det_labels: (Permission denied|Operation not permitted|Read-only file system); "),
    "9-import-onnx-into-a-read-only-folder": Case(
        "9", lambda tmp, _: ["import-onnx", str(RELEASED_ONNX), f"{READ_ONLY}/det_import/student"], 2,
        r"import-onnx: error: /sys/det_import.*: (Permission denied|Operation not permitted|Read-only file system)"),
    "9-export-into-a-read-only-folder": Case(
        "9", lambda tmp, w: ["export", "-c", "ch_PP-OCRv3_det_student.yml", "-o", "Global.use_gpu=false",
                             f"Global.pretrained_model={w}", f"Global.save_inference_dir={READ_ONLY}/det_export"], 2,
        r"export: error: /sys/det_export.*: (Permission denied|Operation not permitted|Read-only file system)"),
    "9-compile-into-a-read-only-folder": Case(
        "9", lambda tmp, _: ["compile", "-o", f"{READ_ONLY}/det_pipeline/p.yaml"], 2,
        r"^error: /sys/det_pipeline: (Permission denied|Operation not permitted|Read-only file system); ",
        program="pipelines"),
    "9-save-model-dir-is-a-file": Case(
        "9", lambda tmp, _: train_args(_data(tmp), _garbage(tmp, "a_file", b"x")), 2,
        r"train: error: .*a_file.*: File exists; a file is in the way where a folder is needed"),
    "13-use-gpu-without-cuda": Case(
        "13", lambda tmp, _: ["infer", "--model-dir", str(tmp), "--image", str(write_jpeg(tmp / "a.jpg") and tmp),
                              "--use-gpu"], 2,
        r"infer: error: --use-gpu: (this Paddle build has no CUDA support|Paddle sees no CUDA device).*leave out "
        r"--use-gpu to run on the CPU"),
    "10-epoch-num-0": Case(
        "10", _override("train", "student", "Global.epoch_num=0"), 2,
        r"-o Global\.epoch_num=0: Global\.epoch_num: must be >= 1, got 0"),
    "10-epoch-num-negative": Case(
        "10", _override("train", "student", "Global.epoch_num=-1"), 2, r"Global\.epoch_num: must be >= 1, got -1"),
    "10-num-workers-negative": Case(
        "10", _override("train", "student", "Train.loader.num_workers=-3"), 2,
        r"-o Train\.loader\.num_workers=-3: Train\.loader\.num_workers: must be >= 0, got -3"),
    "10-crop-size-zero": Case(
        "10", _override("train", "student", "Train.dataset.transforms.3.EastRandomCropData.size=[0,0]"), 2,
        r"EastRandomCropData\.size\[0\]: must be >= 32 and a multiple of 32, got 0"),
    "10-box-thresh-5": Case(
        "10", _override("eval", "student", "PostProcess.box_thresh=5"), 2,
        r"-o PostProcess\.box_thresh=5: PostProcess\.box_thresh: must be >= 0 and <= 1, got 5"),
    "10-unclip-ratio-negative": Case(
        "10", _override("eval", "cml", "PostProcess.unclip_ratio=-1"), 2,
        r"PostProcess\.unclip_ratio: must be > 0, got -1"),
    "10-infer-limit-side-len-0": Case(
        "10", lambda tmp, _: ["infer", "--model-dir", str(tmp), "--image", str(tmp), "--limit-side-len", "0"], 2,
        r"argument --limit-side-len: must be >= 1, got 0"),
    "10-infer-cpu-threads-0": Case(
        "10", lambda tmp, _: ["infer", "--model-dir", str(tmp), "--image", str(tmp), "--cpu-threads", "0"], 2,
        r"argument --cpu-threads: must be >= 1, got 0"),
    "11-override-wrong-transform-index": Case(
        "11", _override("train", "dml", "Train.dataset.transforms.3.EastRandomCropData.size=[64,64]"), 2,
        r"-o 'Train\.dataset\.transforms\.3\.EastRandomCropData\.size=\[64,64\]': item 3 of "
        r"Train\.dataset\.transforms is IaaAugment, not EastRandomCropData; EastRandomCropData is at index 4; "
        r"items: 0 DecodeImage, 1 DetLabelEncode, 2 CopyPaste, 3 IaaAugment, 4 EastRandomCropData"),
    "11-override-unknown-transform-name": Case(
        "11", _override("train", "dml", "Train.dataset.transforms.EastRandomCrop.size=[64,64]"), 2,
        r"Train\.dataset\.transforms: no item named 'EastRandomCrop'; items: 0 DecodeImage"),
    "12-garbage-pdparams": Case(
        "12", lambda tmp, w: eval_args(tmp, _garbage(tmp, "garbage.pdparams", b"garbage\n"), tmp / "eval"), 2,
        r"garbage\.pdparams: not a parameter file \(paddle\.save of a state dict\), or a damaged one"),
    "12-random-bytes-pdparams": Case(
        "12", lambda tmp, w: eval_args(tmp, _garbage(tmp, "r.pdparams", bytes(range(256)) * 3), tmp / "eval"), 2,
        r"r\.pdparams: not a parameter file"),
    "18-crops-without-text-warn": Case(
        "18", _no_text_in_crops, 0,
        r"WARNING.*the last 20 batches \(up to global step 20\) had no scored text pixel.*loss_shrink_maps is 0"
        r".*-o Train\.dataset\.transforms\.EastRandomCropData\.size=\[128,128\] \(now \[64, 64\]\)"),
    "12-empty-pdparams": Case(
        "12", lambda tmp, w: eval_args(tmp, _garbage(tmp, "e.pdparams", b""), tmp / "eval"), 2,
        r"e\.pdparams: not a parameter file"),
}


def run_program(program: str, argv: list[str]) -> int:
    if program == "pipelines":
        from pipelines.cli import main as pipelines_main

        return pipelines_main(argv)
    from det_model.cli import main as det_model_main

    return det_model_main(argv)


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_gives_a_clear_error(name: str, tmp_path: Path, student_weights: Path, capsys, caplog) -> None:
    case = CASES[name]
    try:
        code = run_program(case.program, case.build(tmp_path, student_weights))
    except SystemExit as exc:  # argparse rejects a flag value
        code = exc.code
    captured = capsys.readouterr()
    output = captured.err + captured.out + caplog.text  # logged warnings reach caplog in-process
    assert code == case.code, output[-3000:]
    assert re.search(case.message, output), output[-3000:]
    assert "Traceback" not in output
    if case.code != 0:
        assert re.search(r"(^|\n)[\w :-]*error: ", captured.err), "one `error:` line on stderr"
    for rel in case.absent:
        assert not (tmp_path / rel).exists(), f"{rel} must not be written"
    if case.check is not None:
        assert case.check(tmp_path)


def find_record(path: Path, kind: str) -> Optional[dict]:
    import json

    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return next((r for r in records if r.get("type") == kind), None)


def test_partial_skips_are_counted_in_metrics_files(tmp_path: Path, student_weights: Path, capsys) -> None:
    """Row 3: one corrupt image of four is skipped; train and eval still run and record the count by reason."""
    import json

    data = tmp_path / "data"
    write_dataset(data, count=5, corrupt=(2,))
    assert run_program("det-model", eval_args(data, student_weights, tmp_path / "eval")) == 0
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["skipped"] == {"corrupt_image": 1} and metrics["images"] == 4
    assert run_program("det-model", train_args(data, tmp_path / "out", "Global.eval_batch_step=[0, 0]")) == 0
    skips = find_record(tmp_path / "out" / "metrics.jsonl", "skips")
    assert skips is not None and skips["skipped"] == {"corrupt_image": 1} and skips["epoch"] == 1
