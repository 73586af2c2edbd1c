"""`det-model serve --model-dir inference/Student`: argparse for the KServe model server in det_model/serving
(registered by det_model/cli.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

from det_model.argtypes import positive_int
from det_model.cli_options import add_detector_args, detector_options

DEFAULT_MODEL_NAME = "ppocrv3-det"
MIB = 1024 * 1024


def add_serve_parser(sub: argparse._SubParsersAction) -> None:
    serve = sub.add_parser(
        "serve", help="serve an exported model over KServe V1/V2 REST (image in, boxes out)"
    )
    serve.add_argument("--model-dir", required=True, help="an inference folder, e.g. inference/Student")
    serve.add_argument(
        "--model-name", default=DEFAULT_MODEL_NAME, help="the name in /v1/models/<name>:predict"
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (0.0.0.0 in a container)")
    serve.add_argument("--port", type=positive_int, default=8080, help="HTTP port")
    add_detector_args(serve, slicing=False)  # a served image is resized whole
    serve.add_argument("--max-batch-size", type=int, default=4, help="inputs per forward pass under load")
    serve.add_argument("--max-delay-ms", type=float, default=5.0, help="how long a forward waits for a batch")
    serve.add_argument("--max-images", type=int, default=16, help="images per request")
    serve.add_argument("--max-image-mb", type=float, default=20.0, help="encoded size of one image")
    serve.add_argument("--max-image-pixels", type=int, default=50_000_000, help="width x height of one image")
    serve.add_argument(
        "--image-root",
        default=None,
        help="allow file:// URIs (and paths) of files under this folder; without it URIs are refused",
    )
    serve.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    from det_model.serving.model import BatchSettings, ServeSettings, TextDetectionModel
    from det_model.serving.protocol import RequestLimits
    from det_model.serving.server import run_server

    if args.image_root is not None and not Path(args.image_root).is_dir():
        raise FileNotFoundError(f"--image-root {args.image_root}: no such folder")
    limits = RequestLimits(
        max_images=args.max_images,
        max_image_bytes=int(args.max_image_mb * MIB),
        max_image_pixels=args.max_image_pixels,
        image_root=Path(args.image_root) if args.image_root else None,
    )
    settings = ServeSettings(
        detector=detector_options(args),
        batching=BatchSettings(max_batch_size=args.max_batch_size, max_delay_ms=args.max_delay_ms),
        limits=limits,
    )
    model = TextDetectionModel(args.model_name, args.model_dir, settings)
    model.load()
    # base64 grows 4/3; the JSON around the images is small
    max_body = limits.max_images * (limits.max_image_bytes * 4 // 3 + 1024) + MIB
    run_server(model, host=args.host, port=args.port, max_body_bytes=max_body)
    return 0
