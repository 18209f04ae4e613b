# HELIX-Lightning. `make help` lists the targets.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
PYTEST  := $(BIN)/python -m pytest

.DEFAULT_GOAL := help
.PHONY: help install test test-slow bench demo data spec train train-gpu train-cpu train-tiny train-gpu2 train-cpu2 clean

help: ## list the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	$(BIN)/python -c "import torch, torchvision, piq, lightning, raptorq; print('torch', torch.__version__, 'torchvision', torchvision.__version__)"
	touch $(STAMP)

install: $(STAMP) ## make .venv and install the package with its dev extras

test: $(STAMP) ## fast tests (the CI target)
	$(PYTEST) -m "not slow" -q

$(VENV)/.pgtest: $(STAMP) pyproject.toml
	$(BIN)/pip install --quiet -e ".[dev,pgtest]"
	touch $(VENV)/.pgtest

test-slow: $(STAMP) $(VENV)/.pgtest data ## slow tests: 1 MB channel trials, long runs, sweeps on a local PostgreSQL, fuzzing, the fetched training data
	$(PYTEST) -m slow -q

bench: $(STAMP) ## benchmarks: FSM coder, archive, archive scale (10 MB), DNA codes, video codec (tables + CSV under bench-out/)
	$(BIN)/python benchmarks/bench_fsm.py
	$(BIN)/python benchmarks/bench_archive.py
	$(BIN)/python benchmarks/bench_scale.py --size 10MB
	$(BIN)/helix dna bench --csv bench-out/dna_codes.csv
	$(BIN)/python benchmarks/bench_codec.py --frames 30 --repeat 2

demo: $(STAMP) ## video -> DNA -> noisy reads -> video on the held-out carphone clip (nt/px, PSNR, MS-SSIM, violations; runs/demo/frames.png), then 1 MB of bytes the same way
	$(BIN)/python -m helix_lightning.demo --out runs/demo

spec: ## rewrite the packaged copy of the format spec (src/helix_lightning/dna/format.md.xz) from docs/FORMAT.md
	$(PY) scripts/package_spec.py

data: $(STAMP) ## install the training files of data/manifest.yaml into data/train/ from the package registries (apt-get, pip; every sha256 checked)
	$(BIN)/python -m helix_lightning.video.dataset --manifest data/manifest.yaml --out data/train

train: $(STAMP) ## train the default model and store it as the committed one: train-gpu where a GPU is visible, else train-cpu
	@if $(BIN)/python -c "import sys, torch; sys.exit(not torch.cuda.is_available())"; then \
		$(MAKE) --no-print-directory train-gpu; else $(MAKE) --no-print-directory train-cpu; fi

train-gpu: $(STAMP) ## the committed default model: experiments/gpu.yaml (k=5, 7 min) + gpu_finetune.yaml (6 min) on one H200
	$(BIN)/helix train --config experiments/gpu.yaml
	$(BIN)/helix train --config experiments/gpu_finetune.yaml --out src/helix_lightning/model/default.ckpt

train-cpu: $(STAMP) ## a CPU-only default model (k=4, weaker): experiments/base.yaml (57 min) + finetune.yaml (32 min) on 2 cores
	$(BIN)/helix train --config experiments/base.yaml
	$(BIN)/helix train --config experiments/finetune.yaml --out src/helix_lightning/model/default.ckpt

train-tiny: $(STAMP) ## train experiments/tiny.yaml (under 5 minutes) to runs/tiny/last.ckpt
	$(BIN)/helix train --config experiments/tiny.yaml

train-gpu2: ## second-generation GPU route as one device command (scripts/device_train.sh: checks, experiments/gpu2.yaml, 7 min; outputs in $OUT or runs/device)
	PY=$(if $(wildcard $(BIN)/python),$(BIN)/python,python3) scripts/device_train.sh

train-cpu2: $(STAMP) data ## second-generation CPU route: experiments/cpu2.yaml on 2 cores, under 2 hours, outputs in runs/cpu2
	$(BIN)/python -m helix_lightning.model.route --cpu --config experiments/cpu2.yaml --out runs/cpu2

# make sweep NAME=kron_ablation [BUDGET=smoke] [STORAGE=postgresql://user@host/db] [WORKERS=N]
NAME    ?=
BUDGET  ?= default
STORAGE ?=
WORKERS ?= 1
.PHONY: sweep
sweep: $(STAMP) ## Optuna study sweeps/NAME.yaml: NAME=kron_ablation|fsm_ablation|mask_ablation, BUDGET=smoke|default, STORAGE=URL, WORKERS=N (run again to resume)
	@test -n "$(NAME)" || { echo "usage: make sweep NAME=<study> [BUDGET=smoke] [STORAGE=URL] [WORKERS=N]; studies:" $$(ls sweeps | sed 's/\.yaml$$//'); exit 1; }
	$(if $(filter postgresql%,$(STORAGE)),$(BIN)/pip install --quiet -e ".[postgres]")
	$(BIN)/helix sweep $(NAME) --budget $(BUDGET) --workers $(WORKERS) $(if $(STORAGE),--storage '$(STORAGE)')

# make report [NAME="kron_ablation fsm_ablation"] [STORAGE=URL]: NAME and STORAGE as for make sweep
.PHONY: report
report: $(STAMP) ## reports/NAME/report.md + figures from the Optuna studies (NAME=... one or more; default every runs/sweeps/*/study.journal; STORAGE=URL) and reports/index.md
	$(BIN)/helix report $(NAME) $(if $(STORAGE),--storage '$(STORAGE)')

clean: ## remove the venv, runs and caches
	rm -rf $(VENV) runs bench-out .pytest_cache .hypothesis
