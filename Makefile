# Two commands on a fresh machine:  `make demo`  and  `make test`  (see README.md).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Real datasets are staged read-only beside the checkout; fall back to ./data.
GRAPHLEARN_DATA ?= $(shell if [ -d ../shared/data ]; then cd ../shared/data && pwd; else echo $(CURDIR)/data; fi)
export GRAPHLEARN_DATA

.PHONY: setup demo test bench sampling clean tracking-server tracking-server-stop tracking-server-status

$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first: the CPU build from the local file, so nothing pulls the CUDA wheels.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[test]'
	touch $@

setup: $(BIN)/.installed

demo: setup
	$(BIN)/graphlearn coldbrew --dataset cora --runs 10

test: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q tests

# The large-graph pipeline's quick tier (minutes): time and peak memory per stage at 10k, 30k and 100k synthetic
# nodes, written to benchmarks/results/scale_pipeline.{md,json}, then the cost curve over it and the committed full
# tier (benchmarks/results/scale_curve.{md,json,png}). The full tier: see benchmarks/scale_pipeline.py.
BENCH_SIZES ?= 10000,30000,100000
bench: setup
	$(BIN)/python benchmarks/scale_pipeline.py --sizes $(BENCH_SIZES)
	$(BIN)/python benchmarks/scale_curve.py

# The optional neighbour-sampling backend for `run_protocol(num_neighbors=...)` / `graphlearn train --num-neighbors`:
# torch-sparse and the torch-scatter it imports, built from source against the installed torch (about 18 + 10 minutes
# on one core; pyg-lib is not on PyPI).
sampling: setup
	$(BIN)/pip install -q --no-build-isolation torch-scatter torch-sparse

# A team tracking server (PostgreSQL + mlflow server, state in $(TRACKING_ROOT)); see README "Team tracking server".
TRACKING_ROOT ?= tracking-server
TRACKING_PORT ?= 5000
TRACKING_PG_PORT ?= 5433
TRACKING := $(BIN)/python -m graphlearn.tracking.server

tracking-server: setup
	$(TRACKING) start --root $(TRACKING_ROOT) --port $(TRACKING_PORT) --pg-port $(TRACKING_PG_PORT)

tracking-server-stop:
	$(TRACKING) stop --root $(TRACKING_ROOT)

tracking-server-status:
	$(TRACKING) status --root $(TRACKING_ROOT)

clean:
	rm -rf $(VENV) *.egg-info
