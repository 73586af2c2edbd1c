"""The KServe SDK names det_model.serving uses, imported with an empty command line.

`kserve.model_server` parses `sys.argv` at import time (argparse with prefix matching), so importing it from
`det-model serve --...` would let KServe's parser read, and possibly reject, our flags.
"""

import sys

_argv, sys.argv = sys.argv, sys.argv[:1]
try:
    from kserve import InferOutput, InferRequest, InferResponse, Model, ModelServer
    from kserve.errors import InvalidInput
    from kserve.protocol.rest.server import RESTServer
finally:
    sys.argv = _argv

KSERVE_APP = "kserve.model_server:app"  # the FastAPI app RESTServer serves (created by kserve.model_server)

__all__ = [
    "KSERVE_APP",
    "InferOutput",
    "InferRequest",
    "InferResponse",
    "InvalidInput",
    "Model",
    "ModelServer",
    "RESTServer",
]
