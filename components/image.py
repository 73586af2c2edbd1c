"""The one place that names the image every component runs in.

The image has det_model, kfp and kfp-kubernetes installed (docker/Dockerfile), so components pip-install
nothing at pod start. Build and push it with `make image IMAGE=registry/ns/ppocrv3-det`, then compile with
`python -m pipelines compile --image registry/ns/ppocrv3-det:gpu`; the flag re-targets every task.
"""

BASE_IMAGE = "ppocrv3-det:gpu"
