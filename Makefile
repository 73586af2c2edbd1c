# Every target creates the virtualenv on first use; nothing is installed outside it.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv run test test-slow bench compile golden image clean help

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)  ## create .venv and install the project with its test extras

run: $(STAMP)  ## compile the pipeline and run it locally on tiny synthetic data (CPU)
	$(PY) -m pipelines compile -o ppocrv3_det.yaml
	$(PY) -m pipelines run-local

test: $(STAMP)  ## the default test suite (fast; < 15 min on 2 cores)
	$(PY) -m pytest -q

test-slow: $(STAMP)  ## the long tests (training to a target hmean, end-to-end runs)
	$(PY) -m pytest -q -m slow

bench: $(STAMP)  ## benchmarks; writes docs/benchmarks.md and bench/results/*.json
	$(PY) -m bench

compile: $(STAMP)  ## compile the KFP pipeline to ppocrv3_det.yaml
	$(PY) -m pipelines compile -o ppocrv3_det.yaml

golden: $(STAMP)  ## rewrite tests/pipelines/golden/ppocrv3_det.yaml after an intended pipeline change (review its diff)
	UPDATE_GOLDEN=1 $(PY) -m pytest -q tests/pipelines/test_pipeline_golden.py

image:  ## build the GPU and CPU images (needs a Docker engine)
	docker build -f docker/Dockerfile --target gpu -t $${IMAGE:-ppocrv3-det}:gpu .
	docker build -f docker/Dockerfile --target cpu -t $${IMAGE:-ppocrv3-det}:cpu .

clean:  ## remove the virtualenv and local outputs
	rm -rf $(VENV) local_outputs output
