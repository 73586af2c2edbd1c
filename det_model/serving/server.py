"""The REST server of `det-model serve`: KServe's FastAPI app (V1 and V2 routes, `/`, `/v2/health/live`,
`/v2/health/ready`, `/v1/models/<name>`, `/metrics`) on one host and port, without gRPC.

KServe's RESTServer always binds 0.0.0.0; the host is set on its uvicorn config so tests and benchmarks stay
on 127.0.0.1, and the container passes `--host 0.0.0.0`. Request bodies over a byte limit get 413 before they
are read into memory.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.exceptions import HTTPException
from uvicorn.importer import import_from_string

from det_model.serving.kserve_sdk import KSERVE_APP, Model, ModelServer, RESTServer

logger = logging.getLogger(__name__)

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class BodyLimit:
    """ASGI middleware: HTTP 413 for bodies over `max_bytes`, by Content-Length or while streaming."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._reject(send, int(declared))
            return
        received = 0

        async def limited() -> dict[str, Any]:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:  # chunked upload past the limit: Starlette answers 413
                raise HTTPException(413, self._message(received))
            return message

        await self.app(scope, limited, send)

    def _message(self, size: int) -> str:
        return (
            f"request body of {size}+ bytes; at most {self.max_bytes} (fewer or smaller images per request)"
        )

    async def _reject(self, send: Send, size: int) -> None:
        body = json.dumps({"error": self._message(size)}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def run_server(model: Model, *, host: str, port: int, max_body_bytes: int, grace_period_s: int = 30) -> None:
    """Serve `model` (already loaded) until SIGINT/SIGTERM; returns after a graceful shutdown."""
    server = ModelServer(
        http_port=port,
        enable_grpc=False,
        workers=1,
        enable_latency_logging=False,
        grace_period=grace_period_s,
    )
    server.register_model(model)
    rest = RESTServer(
        KSERVE_APP, server.dataplane, server.model_repository_extension, port, grace_period=grace_period_s
    )
    rest.config.host = host
    import_from_string(KSERVE_APP).add_middleware(BodyLimit, max_bytes=max_body_bytes)
    logger.info("serving %s on http://%s:%d (V1 and V2 REST, /metrics)", model.name, host, port)
    # uvicorn shuts down gracefully on SIGINT/SIGTERM, then re-raises the signal to the handler it found;
    # finding this one, the process exits 0 after a clean shutdown instead of dying by the signal.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda number, frame: logger.info("stopped by signal %d", number))
    try:
        asyncio.run(rest.start())
    finally:
        model.stop()
