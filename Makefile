# Every target creates the virtualenv on first use; nothing is installed outside it.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
ENGINE ?=
IMAGE ?= ppocrv3-det
TARGETS ?= cpu

.PHONY: venv released run test test-slow test-containers bench compile golden image image-base clean help

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)  ## create .venv and install the project with its test extras

RELEASED := .cache/released/ch_PP-OCRv3_det_infer.onnx

$(RELEASED): | $(STAMP)
	$(PY) -m pipelines fetch-released --out $@

released: $(RELEASED)  ## the released PP-OCRv3 detector (ONNX) from the rapidocr-onnxruntime==1.2.3 wheel

run: $(STAMP) $(RELEASED)  ## compile, then fine-tune the released detector locally on synthetic data (CPU)
	$(PY) -m pipelines compile -o ppocrv3_det.yaml
	$(PY) -m pipelines run-local

test: $(STAMP)  ## the default test suite (fast; < 15 min on 2 cores)
	$(PY) -m pytest -q

test-slow: $(STAMP)  ## the long tests (training to a target hmean, end-to-end runs)
	$(PY) -m pytest -q -m slow

bench: $(STAMP) $(RELEASED)  ## benchmarks; writes docs/benchmarks.md and bench/results/*.json
	$(PY) -m bench

compile: $(STAMP)  ## compile the KFP pipeline to ppocrv3_det.yaml
	$(PY) -m pipelines compile -o ppocrv3_det.yaml

golden: $(STAMP)  ## rewrite tests/pipelines/golden/ppocrv3_det.yaml after an intended pipeline change (review its diff)
	UPDATE_GOLDEN=1 $(PY) -m pytest -q tests/pipelines/test_pipeline_golden.py

# ENGINE=podman|docker (detected when unset), IMAGE=name, TARGETS="cpu gpu" (default cpu), CPU_BASE=...
image:  ## build the image(s) with docker or podman; prints name and size (see README, Container image)
	ENGINE=$(ENGINE) IMAGE=$(IMAGE) TARGETS="$(TARGETS)" docker/build-image.sh

image-base:  ## build the Python 3.11 bookworm base from Debian's mirror (when Docker Hub is out of reach)
	ENGINE=$(ENGINE) docker/bootstrap-base.sh

test-containers: $(STAMP)  ## engine setup (root + apt), image build, components + whole DAG in containers
	$(PY) -m pytest -q -m containers tests/containers

clean:  ## remove the virtualenv and local outputs
	rm -rf $(VENV) local_outputs output .cache
