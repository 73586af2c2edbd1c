"""`det-model data convert | inspect | synth` (argparse; registered by det_model/cli.py)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from det_model.data.inspect_labels import inspect_label_file
from det_model.data.sources.hiertext import LEVELS, convert_hiertext
from det_model.data.sources.icdar2015 import convert_icdar2015
from det_model.data.sources.synth import generate_synthetic

FORMATS = ("hiertext", "icdar2015")


def run_convert(args: argparse.Namespace) -> int:
    if args.format == "hiertext":
        stats = convert_hiertext(args.gt, args.image_dir, args.out, level=args.level, degenerate=args.degenerate,
                                 image_prefix=args.image_prefix)
    elif args.format == "icdar2015":
        stats = convert_icdar2015(args.gt, args.image_dir, args.out, degenerate=args.degenerate,
                                  image_prefix=args.image_prefix)
    else:
        raise ValueError(f"unknown format {args.format!r}; known: {FORMATS}")
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

    convert = commands.add_parser("convert", help="write a PaddleOCR label file from HierText or ICDAR2015")
    convert.add_argument("--format", choices=FORMATS, required=True)
    convert.add_argument("--gt", required=True, help="HierText gt/<split>.jsonl.gz, or the ICDAR2015 gt folder")
    convert.add_argument("--image-dir", required=True, help="folder holding the split's images")
    convert.add_argument("--out", required=True, help="label file to write")
    convert.add_argument("--level", choices=LEVELS, default="line", help="HierText granularity (default line)")
    convert.add_argument("--degenerate", choices=("drop", "ignore"), default="drop",
                         help="drop degenerate polygons, or keep them as ###")
    convert.add_argument("--image-prefix", default=None,
                         help="path written before each image name (default: image dir relative to --out)")
    convert.set_defaults(func=run_convert)

    inspect = commands.add_parser("inspect", help="count images, boxes, ignored and degenerate boxes")
    inspect.add_argument("label_file")
    inspect.add_argument("--data-dir", required=True)
    inspect.add_argument("--draw", default=None, metavar="OUT_DIR", help="write ground-truth overlays here")
    inspect.add_argument("--delimiter", default="\t")
    inspect.set_defaults(func=run_inspect)

    synth = commands.add_parser("synth", help="generate seeded synthetic scene-text images + label.txt")
    synth.add_argument("--out", required=True)
    synth.add_argument("-n", "--num-images", type=int, required=True)
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--height", type=int, default=384)
    synth.add_argument("--width", type=int, default=512)
    synth.set_defaults(func=run_synth)
    return data
