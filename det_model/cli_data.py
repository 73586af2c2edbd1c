"""`det-model data convert | inspect | synth`: argparse and printing (registered by det_model/cli.py)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from det_model.argtypes import positive_int
from det_model.data.inspect_labels import inspect_label_file
from det_model.data.sources.hiertext import LEVELS, convert_hiertext
from det_model.data.sources.icdar2015 import convert_icdar2015
from det_model.data.sources.synth import generate_synthetic

FORMATS = ("hiertext", "icdar2015")


def run_convert(args: argparse.Namespace) -> int:
    if args.format == "hiertext":
        stats = convert_hiertext(args.gt, args.image_dir, args.out, level=args.level, degenerate=args.degenerate,
                                 image_prefix=args.image_prefix)
    else:  # argparse's choices leave icdar2015
        stats = convert_icdar2015(args.gt, args.image_dir, args.out, degenerate=args.degenerate,
                                  image_prefix=args.image_prefix)
    print(f"wrote {args.out}: {stats.summary()}")
    return 0


def run_inspect(args: argparse.Namespace) -> int:
    report = inspect_label_file(args.label_file, args.data_dir, draw_dir=args.draw, delimiter=args.delimiter)
    print("\n".join(report.lines()))
    if args.draw:
        print(f"overlays written to {args.draw} (green: text, red: ###, yellow: degenerate)")
    if not report.clean:  # exit 1 so that scripts and CI can gate on a clean label file
        problems = report.bad_lines.skipped_samples + sum(report.problems.counts.values())
        print(f"det-model data inspect: error: {args.label_file}: {problems} problem(s) found (listed above)",
              file=sys.stderr)
        return 1
    return 0


def run_synth(args: argparse.Namespace) -> int:
    label = generate_synthetic(args.out, args.num_images, args.seed, size=(args.height, args.width))
    print(f"wrote {args.num_images} images and {label} (use data_dir {args.out})")
    return 0


def add_data_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `data` with its sub-commands; each sets `func(args) -> exit code`."""
    data = subparsers.add_parser("data", help="convert, inspect or synthesise detection data")
    commands = data.add_subparsers(dest="data_command", required=True)
    _add_convert(commands)
    _add_inspect(commands)
    _add_synth(commands)
    return data


def _add_convert(commands: Any) -> None:
    convert = commands.add_parser("convert", help="write a PaddleOCR label file from HierText or ICDAR2015")
    convert.add_argument("--format", choices=FORMATS, required=True, help="the ground truth's format")
    convert.add_argument("--gt", required=True, help="HierText gt/<split>.jsonl.gz, or the ICDAR2015 gt folder")
    convert.add_argument("--image-dir", required=True, help="folder holding the split's images")
    convert.add_argument("--out", required=True, help="label file to write")
    convert.add_argument("--level", choices=LEVELS, default="line", help="HierText granularity (default line)")
    convert.add_argument("--degenerate", choices=("drop", "ignore"), default="drop",
                         help="drop degenerate polygons, or keep them as ###")
    convert.add_argument("--image-prefix", default=None,
                         help="path written before each image name (default: image dir relative to --out)")
    convert.set_defaults(func=run_convert)


def _add_inspect(commands: Any) -> None:
    inspect = commands.add_parser(
        "inspect", help="open every image of a label file and count images, boxes and problems (exit 1 if any)")
    inspect.add_argument("label_file", help="a PaddleOCR label file (img_path<TAB>JSON boxes, one image a line)")
    inspect.add_argument("--data-dir", required=True,
                         help="folder the image paths are relative to (the dataset's data_dir)")
    inspect.add_argument("--draw", default=None, metavar="OUT_DIR", help="write ground-truth overlays here")
    inspect.add_argument("--delimiter", default="\t", help="between image path and boxes (default TAB)")
    inspect.set_defaults(func=run_inspect)


def _add_synth(commands: Any) -> None:
    synth = commands.add_parser("synth", help="generate seeded synthetic scene-text images + label.txt")
    synth.add_argument("--out", required=True, help="folder for images/ and label.txt (it is the data_dir)")
    synth.add_argument("-n", "--num-images", type=positive_int, required=True, help="how many images")
    synth.add_argument("--seed", type=int, default=0, help="random seed: the same seed gives the same images")
    synth.add_argument("--height", type=positive_int, default=384, help="image height in pixels (default 384)")
    synth.add_argument("--width", type=positive_int, default=512, help="image width in pixels (default 512)")
    synth.set_defaults(func=run_synth)
