# HELIX-Lightning. `make help` lists the targets.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
PYTEST  := $(BIN)/python -m pytest

.DEFAULT_GOAL := help
.PHONY: help install test test-slow bench demo train clean

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	$(BIN)/python -c "import torch, torchvision, piq, lightning, raptorq; print('torch', torch.__version__, 'torchvision', torchvision.__version__)"
	touch $(STAMP)

install: $(STAMP) ## make .venv and install the package with its dev extras

test: $(STAMP) ## fast tests (the CI target)
	$(PYTEST) -m "not slow" -q

test-slow: $(STAMP) ## slow tests: 1 MB channel trials, long runs
	$(PYTEST) -m slow -q

bench: $(STAMP) ## benchmarks: FSM coder, archive, channel (tables + CSV under bench-out/)
	$(BIN)/python benchmarks/bench_fsm.py
	$(BIN)/python benchmarks/bench_archive.py
	$(BIN)/helix dna bench --csv bench-out/dna_codes.csv

demo: $(STAMP) ## store a 1 MB random file in DNA, sequence it with noise, read it back
	@mkdir -p runs/demo
	$(BIN)/python -c "import random; open('runs/demo/input.bin','wb').write(random.Random(0).randbytes(1_000_000))"
	$(BIN)/helix dna encode runs/demo/input.bin -o runs/demo/archive.fasta
	$(BIN)/helix dna check runs/demo/archive.fasta
	$(BIN)/helix dna simulate runs/demo/archive.fasta -o runs/demo/reads.fastq --seed 1
	$(BIN)/helix dna decode runs/demo/reads.fastq -o runs/demo/output.bin
	cmp runs/demo/input.bin runs/demo/output.bin && echo "demo: bit-exact round trip through the noisy channel"

train: $(STAMP) ## train the default model (experiments/tiny.yaml) and store it as the committed default
	$(BIN)/helix train --config experiments/tiny.yaml --out src/helix_lightning/model/default.ckpt

clean: ## remove the venv, runs and caches
	rm -rf $(VENV) runs bench-out .pytest_cache .hypothesis
