"""`det-model serve`: a KServe Python SDK model server for exported detectors (image in, polygons out).

protocol.py   request parsing (base64 / binary / file URIs, limits) and per-image answers; no kserve import
batcher.py    micro-batching of concurrent forward passes (max batch size, max delay)
model.py      TextDetectionModel, a kserve.Model with `det-model infer`'s pre/post-processing
server.py     the REST server (V1 + V2 routes, health, /metrics) on a chosen host and port
(the `det-model serve` arguments are in det_model/cli_serve.py)
"""
