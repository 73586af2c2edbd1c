"""Micro-batching of concurrent forward passes for `det-model serve`.

Requests queue their network inputs; one worker takes the first, waits at most `max_delay_s` for more (taking
at once whatever is already queued), and runs up to `max_batch_size` inputs. Inputs of different sizes cannot
share a tensor (padding would change the boxes near the pad), so a batch runs as one forward per input shape.
The forward runs in a single dedicated thread: a paddle.inference predictor is not thread-safe, and on a
CPU its own threads already use the cores. While it runs, new requests queue, which is what fills the next
batch under load.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

logger = logging.getLogger(__name__)

Forward = Callable[[np.ndarray], np.ndarray]
Pending = tuple[np.ndarray, "asyncio.Future[np.ndarray]"]


class MicroBatcher:
    """`await batcher.submit(x)` with x (1, C, H, W) returns that input's (1, ...) slice of the output."""

    def __init__(
        self,
        forward: Forward,
        *,
        max_batch_size: int = 4,
        max_delay_s: float = 0.005,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        if max_batch_size < 1 or max_delay_s < 0:
            raise ValueError(
                f"max_batch_size {max_batch_size} must be >= 1 and max_delay_s {max_delay_s} >= 0"
            )
        self.forward, self.max_batch_size, self.max_delay_s = forward, max_batch_size, max_delay_s
        self.on_batch = on_batch or (lambda size: None)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="det-forward")
        self._queue: asyncio.Queue[Pending] | None = None
        self._worker: asyncio.Task | None = None

    async def submit(self, x: np.ndarray) -> np.ndarray:
        loop = asyncio.get_running_loop()
        if self._worker is None or self._worker.done():  # started on the server's own event loop
            self._queue = asyncio.Queue()
            self._worker = loop.create_task(self._serve())
        future: asyncio.Future[np.ndarray] = loop.create_future()
        await self._queue.put((x, future))
        return await future

    def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def _serve(self) -> None:
        while True:
            batch = await self._collect()
            shapes: dict[tuple[int, ...], list[Pending]] = {}
            for item in batch:
                shapes.setdefault(item[0].shape[1:], []).append(item)
            for group in shapes.values():
                await self._run(group)

    async def _collect(self) -> list[Pending]:
        assert self._queue is not None
        batch = [await self._queue.get()]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_delay_s
        while len(batch) < self.max_batch_size:
            if not self._queue.empty():
                batch.append(self._queue.get_nowait())
                continue
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), remaining))
            except asyncio.TimeoutError:
                break
        return [item for item in batch if not item[1].done()]  # drop requests whose client went away

    async def _run(self, group: list[Pending]) -> None:
        x = np.concatenate([item[0] for item in group]) if len(group) > 1 else group[0][0]
        self.on_batch(len(group))
        try:
            out = await asyncio.get_running_loop().run_in_executor(self._executor, self.forward, x)
        except Exception as exc:  # a failed forward fails its own requests, never the worker
            logger.exception("forward pass of %d input(s) %s failed", len(group), list(x.shape))
            for _, future in group:
                if not future.done():
                    future.set_exception(exc)
            return
        for index, (_, future) in enumerate(group):
            if not future.done():
                future.set_result(out[index : index + 1])
