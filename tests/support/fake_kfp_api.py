"""A loopback HTTP server that answers the few KFP v2beta1 API calls upload/run make, and records them.

It is not KFP: it checks the requests our commands send through the real kfp.Client (paths, query,
headers such as Authorization and Cookie, JSON bodies), with canned answers.
"""

from __future__ import annotations

import http.server
import json
import threading
import urllib.parse
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class FakeKfpApi:
    existing_pipelines: list[dict] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)

    def answer(self, r: Request) -> dict:
        routes = {
            ("GET", "/apis/v2beta1/healthz"): lambda: {"multi_user": False},
            ("GET", "/apis/v2beta1/pipelines"): lambda: {"pipelines": self.existing_pipelines},
            ("POST", "/apis/v2beta1/pipelines/upload"): lambda: {"pipeline_id": "p-new"},
            ("GET", "/apis/v2beta1/pipelines/p-new/versions"): lambda: {
                "pipeline_versions": [{"pipeline_id": "p-new", "pipeline_version_id": "v-first"}]
            },
            ("POST", "/apis/v2beta1/pipelines/upload_version"): lambda: {
                "pipeline_id": "p-old",
                "pipeline_version_id": "v-next",
            },
            ("GET", "/apis/v2beta1/experiments"): lambda: {},
            ("POST", "/apis/v2beta1/experiments"): lambda: {"experiment_id": "e-1", **r.json()},
            ("POST", "/apis/v2beta1/runs"): lambda: {"run_id": "r-1"},
        }
        return routes[(r.method, r.path)]()

    def calls(self, method: str, path: str) -> list[Request]:
        return [r for r in self.requests if (r.method, r.path) == (method, path)]


def serve(api: FakeKfpApi) -> tuple[http.server.ThreadingHTTPServer, str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def handle_any(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {
                k.lower(): v for k, v in self.headers.items()
            }  # HTTP header names are case-insensitive
            request = Request(self.command, url.path, urllib.parse.parse_qs(url.query), headers, body)
            api.requests.append(request)
            try:
                payload, status = json.dumps(api.answer(request)).encode(), 200
            except KeyError:
                payload, status = b'{"error": "not faked"}', 404
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = handle_any  # noqa: N815 (stdlib names)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"
