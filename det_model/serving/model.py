"""TextDetectionModel: a kserve.Model that answers images with text polygons.

Pre/post-processing are `det-model infer`'s own (TextDetector.preprocess, its DBPostProcess and
filter_det_boxes), so a served image gets the boxes `det-model infer` writes for the same file. Decoding and
resizing run in the event loop's thread pool, forward passes go through the MicroBatcher.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from prometheus_client import Counter, Histogram

from det_model.inference.detector import TextDetector
from det_model.inference.images import ImageError
from det_model.inference.options import DetectorOptions
from det_model.inference.predictor import run_predictor
from det_model.postprocess import filter_det_boxes
from det_model.serving.batcher import MicroBatcher
from det_model.serving.kserve_sdk import InferOutput, InferRequest, InferResponse, InvalidInput, Model
from det_model.serving.protocol import (
    V2_IMAGE_INPUT,
    V2_OUTPUT,
    V2_URI_INPUT,
    BadRequest,
    EncodedImage,
    RequestLimits,
    decode_image,
    detection_record,
    images_from_v1,
    images_from_v2,
)

BATCH_SIZE = Histogram("det_model_batch_size", "inputs per forward pass", buckets=(1, 2, 4, 8, 16, 32, 64))
IMAGES = Counter("det_model_images_total", "images detected")
REJECTED = Counter("det_model_bad_requests_total", "requests the image checks refused (HTTP 400)")


@dataclass(frozen=True)
class BatchSettings:
    max_batch_size: int = 4
    max_delay_ms: float = 5.0

    def __post_init__(self) -> None:  # checked before the model loads
        if self.max_batch_size < 1 or self.max_delay_ms < 0:
            raise ValueError(
                f"--max-batch-size {self.max_batch_size} must be >= 1 and --max-delay-ms {self.max_delay_ms} >= 0"
            )


@dataclass(frozen=True)
class ServeSettings:
    detector: DetectorOptions = field(default_factory=DetectorOptions)  # slice_long_images does not apply
    batching: BatchSettings = field(default_factory=BatchSettings)
    limits: RequestLimits = field(default_factory=RequestLimits)


class TextDetectionModel(Model):
    """V1: `{"instances": [...]}` -> `{"predictions": [record, ...]}`; V2: BYTES `image` -> BYTES `detections`
    (one JSON record per image). A record: boxes, scores, height, width, input_height, input_width."""

    def __init__(self, name: str, model_dir: str | Path, settings: ServeSettings = ServeSettings()) -> None:
        super().__init__(name)
        self.model_dir, self.settings = Path(model_dir), settings
        self.detector: TextDetector | None = None
        self.batcher: MicroBatcher | None = None

    def load(self) -> bool:
        self.detector = TextDetector(self.model_dir, self.settings.detector)
        predictor = self.detector.predictor
        self.batcher = MicroBatcher(
            lambda x: run_predictor(predictor, x),
            max_batch_size=self.settings.batching.max_batch_size,
            max_delay_s=self.settings.batching.max_delay_ms / 1000.0,
            on_batch=BATCH_SIZE.observe,
        )
        self.ready = True
        return self.ready

    def get_input_types(self) -> list[dict[str, Any]]:  # V2 model metadata
        return [
            {"name": V2_IMAGE_INPUT, "datatype": "BYTES", "shape": [-1]},
            {"name": V2_URI_INPUT, "datatype": "BYTES", "shape": [-1]},
        ]

    def get_output_types(self) -> list[dict[str, Any]]:
        return [{"name": V2_OUTPUT, "datatype": "BYTES", "shape": [-1]}]

    def stop(self) -> None:
        if self.batcher is not None:
            self.batcher.close()

    async def predict(
        self, payload: Any, headers: dict[str, str] | None = None, response_headers: Any = None
    ) -> Any:
        v2 = isinstance(payload, InferRequest)
        try:
            limits = self.settings.limits
            images = images_from_v2(payload.inputs, limits) if v2 else images_from_v1(payload, limits)
            records = await self.detect_all(images)
        except BadRequest as exc:
            REJECTED.inc()
            raise InvalidInput(str(exc)) from exc
        IMAGES.inc(len(records))
        if not v2:
            return {"predictions": records}
        texts = [json.dumps(record) for record in records]
        output = InferOutput(name=V2_OUTPUT, shape=[len(texts)], datatype="BYTES", data=texts)
        return InferResponse(
            response_id=payload.id or str(uuid.uuid4()), model_name=self.name, infer_outputs=[output]
        )

    async def detect_all(self, images: list[EncodedImage]) -> list[dict[str, Any]]:
        """Decode and resize every image first (a bad one rejects the request before any forward pass)."""
        loop = asyncio.get_running_loop()
        prepared = await asyncio.gather(*(loop.run_in_executor(None, self._prepare, im) for im in images))
        return list(await asyncio.gather(*(self._detect(*item) for item in prepared)))

    def _prepare(self, image: EncodedImage) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        assert self.detector is not None
        bgr = decode_image(image, self.settings.limits)
        try:
            x, shape = self.detector.preprocess(bgr)
        except ImageError as exc:
            raise BadRequest(f"{image.source}: {exc}") from exc
        return bgr, x, shape

    async def _detect(self, image: np.ndarray, x: np.ndarray, shape: np.ndarray) -> dict[str, Any]:
        assert self.batcher is not None
        prob = await self.batcher.submit(x)
        return await asyncio.get_running_loop().run_in_executor(
            None, self._finish, prob, shape, image.shape[:2], x.shape[2:]
        )

    def _finish(
        self, prob: np.ndarray, shape: np.ndarray, image_hw: tuple, input_hw: tuple
    ) -> dict[str, Any]:
        assert self.detector is not None
        (detections,) = self.detector.postprocess(prob, shape)
        detections = filter_det_boxes(detections, image_hw)
        return detection_record(detections, image_hw, input_hw)
