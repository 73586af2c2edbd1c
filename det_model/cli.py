"""`det-model`: PaddleOCR's tools (train, eval, export, infer) plus import-onnx, extract-params, data and serve.

Config commands take PaddleOCR's flags: `-c config.yml -o Section.key=value ...`. Unlike PaddleOCR, several
`-o` flags accumulate (PaddleOCR keeps only the last one).
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Callable, Sequence

from det_model.argtypes import positive_int
from det_model.cli_options import add_detector_args, detector_options

logger = logging.getLogger("det_model")


def _add_config_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", required=True, help="config YAML (a path or a bundled recipe name)")
    parser.add_argument(
        "-o",
        "--opt",
        action="extend",
        nargs="+",
        default=[],
        metavar="Section.key=value",
        help="override config values (YAML-typed), e.g. -o Global.epoch_num=10 Train.loader.num_workers=2",
    )


def _load(args: argparse.Namespace):
    from det_model.config import config_path, load_config

    return load_config(config_path(args.config), args.opt)


# ----------------------------------------------------------------------------------------- commands


def cmd_train(args: argparse.Namespace) -> int:
    if args.nproc > 1 and "PADDLE_TRAINER_ID" not in os.environ:
        return _relaunch_distributed(args)
    from det_model.evaluation import evaluator
    from det_model.program_eval import forward_builder
    from det_model.training import train

    cfg = _load(args)
    result = train(cfg, evaluate=evaluator(cfg, forward_builder(cfg)))
    print(
        f"checkpoints: {result.save_model_dir}  epochs: {result.epochs}  steps: {result.global_step}  "
        f"best: {result.best_metrics or 'no evaluation ran'}"
    )
    return 0


def _relaunch_distributed(args: argparse.Namespace) -> int:
    """Run this same command under `paddle.distributed.launch` with `--nproc` processes (data parallel)."""
    script = Path(__file__).with_name("__main__.py")
    cmd = [
        sys.executable,
        "-m",
        "paddle.distributed.launch",
        "--nproc_per_node",
        str(args.nproc),
        "--log_dir",
        args.launch_log_dir,
        str(script),
        "train",
        "-c",
        args.config,
    ]
    if args.opt:
        cmd += ["-o", *args.opt]
    logger.info("launching: %s", " ".join(cmd))
    return subprocess.call(cmd)


def cmd_eval(args: argparse.Namespace) -> int:
    from det_model.evaluation import evaluate_checkpoint
    from det_model.program_eval import forward_builder

    cfg = _load(args)
    out_dir = Path(args.out) if args.out else Path(cfg.Global.save_model_dir)
    metrics = evaluate_checkpoint(cfg, out_dir, forward_builder(cfg))
    print(", ".join(f"{k}: {v:.4f}" if isinstance(v, float) else f"{k}: {v}" for k, v in metrics.items()))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from det_model.export import export_model

    for name, folder in export_model(_load(args)).items():
        print(f"{name}: {folder}")
    return 0


def cmd_infer(args: argparse.Namespace) -> int:
    """Exit code 1 when any image failed (each failure is in summary.json)."""
    from det_model.inference.detector import RESULTS_FILE, SUMMARY_FILE, infer_images

    summary = infer_images(args.model_dir, args.image, args.out, detector_options(args))
    failed, out = summary["failed"], Path(args.out)
    print(
        f"{summary['processed']}/{summary['images']} images, {summary['boxes']} boxes -> {out / RESULTS_FILE}"
        + (f"; {len(failed)} failed (see {out / SUMMARY_FILE})" if failed else "")
    )
    return 1 if failed else 0


def cmd_import_onnx(args: argparse.Namespace) -> int:
    from det_model.modeling.onnx_import import import_onnx

    report = import_onnx(args.onnx, args.out)
    print(report.summary())
    return 0


def cmd_extract_params(args: argparse.Namespace) -> int:
    from det_model.training import extract_params

    print(extract_params(args.src, args.dst, args.prefix))
    return 0


# ------------------------------------------------------------------------------------------ parsing


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    def of(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    return f"det-model {of('det-model')} (paddlepaddle {of('paddlepaddle')})"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="det-model", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging, and tracebacks of errors")
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_config_commands(sub)
    _add_infer(sub)
    _add_weight_tools(sub)
    from det_model.cli_data import add_data_parser
    from det_model.cli_serve import add_serve_parser

    add_data_parser(sub)
    add_serve_parser(sub)
    return parser


def _add_config_commands(sub) -> None:
    train = sub.add_parser("train", help="train per a config (best_accuracy / latest checkpoints)")
    _add_config_args(train)
    train.add_argument("--nproc", type=positive_int, default=1,
                       help="data-parallel processes (re-runs under paddle.distributed.launch)")
    train.add_argument("--launch-log-dir", default="./log", help="per-process logs of paddle.distributed.launch")
    train.set_defaults(func=cmd_train)

    evaluate = sub.add_parser("eval", help="evaluate Global.checkpoints on the Eval set; writes metrics.json")
    _add_config_args(evaluate)
    evaluate.add_argument("--out", help="folder for metrics.json (default Global.save_model_dir)")
    evaluate.set_defaults(func=cmd_eval)

    export = sub.add_parser("export", help="export inference models to Global.save_inference_dir")
    _add_config_args(export)
    export.set_defaults(func=cmd_export)


def _add_infer(sub) -> None:
    infer = sub.add_parser("infer", help="detect text with an exported model (paddle.inference)")
    infer.add_argument("--model-dir", required=True, help="an inference folder, e.g. inference/Student")
    infer.add_argument("--image", required=True, help="an image or a folder of images")
    infer.add_argument("--out", default="./infer_output", help="results.jsonl and drawn images go here")
    add_detector_args(infer, slicing=True)
    infer.set_defaults(func=cmd_infer)


def _add_weight_tools(sub) -> None:
    imp = sub.add_parser("import-onnx", help="PP-OCRv3 student ONNX (released or our export) -> .pdparams")
    imp.add_argument("onnx", help="ch_PP-OCRv3_det_infer.onnx, or the inference.onnx of a det-model export")
    imp.add_argument("out", help="weights file to write (.pdparams is added); use it as Global.pretrained_model")
    imp.set_defaults(func=cmd_import_onnx)

    extract = sub.add_parser("extract-params", help="one sub-model's weights from a distillation checkpoint")
    extract.add_argument("--prefix", default="Student", help="Student, Student2 or Teacher")
    extract.add_argument("src", help="a distillation checkpoint, e.g. output/ch_db_mv3/best_accuracy.pdparams")
    extract.add_argument("dst", help="weights file to write (.pdparams is added)")
    extract.set_defaults(func=cmd_extract_params)


def describe_os_error(exc: OSError) -> str:
    """One line for a file-system error: the path, what happened, what to do."""
    hints = {
        errno.ENOSPC: "free space there or write to another folder",
        errno.EACCES: "choose a folder you can write to",
        errno.EPERM: "choose a folder you can write to",
        errno.EROFS: "the file system is read-only: choose another folder",
        errno.EEXIST: "a file is in the way where a folder is needed: remove it or choose another path",
        errno.ENOTDIR: "a file is in the way where a folder is needed: remove it or choose another path",
        errno.EISDIR: "a folder was given where a file is needed",
    }
    where = f"{exc.filename}: " if exc.filename else ""
    raw = exc.errno is not None and exc.strerror == os.strerror(exc.errno)  # the OS's words: add what to do
    hint = hints.get(exc.errno or 0) if raw else None
    return f"{where}{exc.strerror or exc}" + (f"; {hint}" if hint else "")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="[%(asctime)s] %(name)s %(levelname)s: %(message)s",
    )
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except (ValueError, FileNotFoundError, KeyError, OSError) as exc:
        # Expected errors (config, data, files, disks) print one line instead of a traceback; -v shows it.
        # Anything else is a bug and keeps its traceback.
        if args.verbose:
            raise
        text = describe_os_error(exc) if isinstance(exc, OSError) and not isinstance(exc, FileNotFoundError) else exc
        command = " ".join(filter(None, (args.command, getattr(args, "data_command", None))))
        print(f"det-model {command}: error: {text}", file=sys.stderr)
        return 2
