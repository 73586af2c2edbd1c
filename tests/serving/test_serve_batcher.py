"""MicroBatcher: concurrent inputs share forward passes up to the size limit, one pass per input shape, each
caller gets its own slice back, and a failing pass fails only its callers."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from det_model.serving.batcher import MicroBatcher


class Recorder:
    """A forward that records batch shapes, marks each row with its batch index, and can be told to fail."""

    def __init__(self, fail_on_width: int | None = None, delay_s: float = 0.0) -> None:
        self.shapes: list[tuple[int, ...]] = []
        self.threads: set[str] = set()
        self.fail_on_width, self.delay_s = fail_on_width, delay_s

    def __call__(self, x: np.ndarray) -> np.ndarray:
        import time

        time.sleep(self.delay_s)
        self.shapes.append(x.shape)
        self.threads.add(threading.current_thread().name)
        if x.shape[-1] == self.fail_on_width:
            raise RuntimeError("forward failed")
        return x[:, :1] * 2  # (N, 1, H, W): a function of each row only


def _input(value: float, width: int = 8) -> np.ndarray:
    return np.full((1, 3, 4, width), value, np.float32)


async def _submit_all(batcher: MicroBatcher, inputs: list[np.ndarray]) -> list:
    return await asyncio.gather(*(batcher.submit(x) for x in inputs), return_exceptions=True)


@pytest.mark.parametrize(
    "count, max_batch, expected_sizes",
    [(1, 4, [1]), (4, 4, [4]), (6, 4, [4, 2]), (5, 1, [1, 1, 1, 1, 1]), (9, 3, [3, 3, 3])],
)
def test_concurrent_inputs_share_passes_up_to_the_limit(count, max_batch, expected_sizes) -> None:
    forward = Recorder()
    batcher = MicroBatcher(forward, max_batch_size=max_batch, max_delay_s=0.05)
    inputs = [_input(i) for i in range(count)]
    outputs = asyncio.run(_submit_all(batcher, inputs))
    batcher.close()
    assert [s[0] for s in forward.shapes] == expected_sizes
    for x, out in zip(inputs, outputs):
        np.testing.assert_array_equal(out, x[:, :1] * 2)  # every caller gets its own row back
    assert len(forward.threads) == 1  # one forward thread: predictors are not thread-safe


def test_shapes_never_share_a_tensor() -> None:
    forward = Recorder()
    batcher = MicroBatcher(forward, max_batch_size=8, max_delay_s=0.05)
    inputs = [_input(1, 8), _input(2, 16), _input(3, 8), _input(4, 16), _input(5, 32)]
    outputs = asyncio.run(_submit_all(batcher, inputs))
    batcher.close()
    assert sorted(forward.shapes) == [(1, 3, 4, 32), (2, 3, 4, 8), (2, 3, 4, 16)]
    for x, out in zip(inputs, outputs):
        np.testing.assert_array_equal(out, x[:, :1] * 2)


def test_a_lone_request_waits_at_most_the_delay() -> None:
    batcher = MicroBatcher(Recorder(), max_batch_size=8, max_delay_s=0.02)

    async def timed() -> float:
        loop = asyncio.get_running_loop()
        start = loop.time()
        await batcher.submit(_input(1))
        return loop.time() - start

    assert asyncio.run(timed()) < 1.0
    batcher.close()


def test_a_failed_pass_fails_its_callers_and_the_worker_carries_on() -> None:
    forward = Recorder(fail_on_width=16)
    batcher = MicroBatcher(forward, max_batch_size=8, max_delay_s=0.05)

    async def scenario():
        first = await _submit_all(batcher, [_input(1, 8), _input(2, 16), _input(3, 16)])
        later = await batcher.submit(_input(4, 8))
        return first, later

    (ok, bad1, bad2), later = asyncio.run(scenario())
    batcher.close()
    np.testing.assert_array_equal(ok, _input(1, 8)[:, :1] * 2)
    assert isinstance(bad1, RuntimeError) and isinstance(bad2, RuntimeError)
    np.testing.assert_array_equal(later, _input(4, 8)[:, :1] * 2)


@pytest.mark.parametrize("size, delay", [(0, 0.01), (4, -1.0)])
def test_bad_settings_are_refused(size: int, delay: float) -> None:
    with pytest.raises(ValueError, match="max_batch_size"):
        MicroBatcher(Recorder(), max_batch_size=size, max_delay_s=delay)
