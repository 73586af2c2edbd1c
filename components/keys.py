"""Content keys: one name per distinct piece of work, the same in every run that repeats it.

A training stage's checkpoint folder and its multi-node job are named by a hash of what determines the
result (the resolved config with its run-specific paths left out, and the identities of the input artifacts
and pretrained weights). An identical re-run therefore resumes from (or finds finished) the same folder,
and a retried pod finds its `latest`; nothing run-specific such as the run id enters a task's inputs, so
KFP's cache can hit as well.
"""

from __future__ import annotations

import hashlib
import json
from typing import Mapping

KEY_LENGTH = 16  # 64 bits: collisions are not a practical concern for a namespace's checkpoint folders


def content_key(resolved_config: str, inputs: Mapping[str, str]) -> str:
    """A hex key over the resolved config text and `inputs` (name -> artifact URI or weights URI)."""
    digest = hashlib.sha256()
    digest.update(json.dumps({"config": resolved_config, "inputs": dict(sorted(inputs.items()))}).encode())
    return digest.hexdigest()[:KEY_LENGTH]
