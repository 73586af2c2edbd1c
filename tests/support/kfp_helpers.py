"""Small builders shared by the Kubeflow-side tests (tiny PaddleOCR-format datasets, in memory)."""

from __future__ import annotations

import io
import json
import tarfile


def label_line(image: str, n_boxes: int = 1, ignored: int = 0) -> str:
    boxes = [{"transcription": "text", "points": [[0, 0], [8, 0], [8, 4], [0, 4]]}] * n_boxes
    boxes += [{"transcription": "###", "points": [[1, 1], [5, 1], [5, 3], [1, 3]]}] * ignored
    return f"{image}\t{json.dumps(boxes)}"


def paddleocr_tar(files: dict[str, bytes], top: str = "ds") -> bytes:
    """An in-memory tar.gz with `files` (name -> bytes) under folder `top`."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"{top}/{name}" if top else name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def tiny_paddleocr_files(n_train: int = 3, n_eval: int = 2) -> dict[str, bytes]:
    files = {f"imgs/{i}.jpg": b"\xff\xd8fake" + bytes([i]) for i in range(n_train + n_eval)}
    train = [label_line(f"imgs/{i}.jpg", 2, 1) for i in range(n_train)]
    evals = [label_line(f"imgs/{i}.jpg", 1) for i in range(n_train, n_train + n_eval)]
    files["label_train.txt"] = "\n".join(train).encode()
    files["label_eval.txt"] = "\n".join(evals).encode()
    return files


def crd_validator(crd_path, strict: bool = True):
    """A jsonschema validator from a CRD's openAPIV3Schema (x-kubernetes-* and nullable translated).

    Objects with declared properties and no preserve-unknown-fields reject unknown keys when `strict`.
    """
    import jsonschema
    import yaml

    def convert(node):
        if isinstance(node, list):
            return [convert(n) for n in node]
        if not isinstance(node, dict):
            return node
        out = {
            k: convert(v) for k, v in node.items() if not k.startswith("x-kubernetes-") and k != "nullable"
        }
        if node.get("x-kubernetes-int-or-string"):
            out = {k: v for k, v in out.items() if k != "type"} | {
                "anyOf": [{"type": "integer"}, {"type": "string"}]
            }
        if node.get("nullable") and "type" in out:
            out["type"] = [out["type"], "null"]
        if (
            strict
            and node.get("type") == "object"
            and "properties" in node
            and not node.get("x-kubernetes-preserve-unknown-fields")
            and "additionalProperties" not in node
        ):
            out["additionalProperties"] = False
        return out

    crd = yaml.safe_load(open(crd_path))
    version = next(v for v in crd["spec"]["versions"] if v.get("storage", True))
    schema = convert(version["schema"]["openAPIV3Schema"])
    schema["properties"]["metadata"] = {"type": "object"}
    return jsonschema.Draft7Validator(schema)


def all_tasks(spec: dict) -> dict[str, dict]:
    """Every task of a compiled PipelineSpec by name: the root DAG's and those inside condition sub-DAGs."""
    dags = [spec["root"]["dag"]] + [c["dag"] for c in spec["components"].values() if "dag" in c]
    return {name: task for dag in dags for name, task in dag.get("tasks", {}).items()}


def component_base(name: str) -> str:
    """`train-cml-student-3` -> `train-cml-student` (KFP numbers repeated uses of a component)."""
    head, _, tail = name.rpartition("-")
    return head if tail.isdigit() else name
