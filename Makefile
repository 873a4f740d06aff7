# The two commands a newcomer types: `make repro` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH_VERSION ?= 2.13.0
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false
# stage commands run `python -m stages.<name>`: the venv python must come first on PATH
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export HF_DATASETS_OFFLINE ?= 1

.PHONY: setup repro test bench study sweep compare clean

# Idempotent: the stamp is newer than pyproject.toml once everything is installed.
setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# CPU torch first: letting pip resolve torch on its own can pull a multi-GB CUDA build.
	$(BIN)/python -m pip install -q "torch==$(TORCH_VERSION)"
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $@

repro: setup
	$(BIN)/dvc repro

# TEST_WORKERS pytest-xdist workers, whole files each (module fixtures such as the e2e repo stay in one)
TEST_WORKERS ?= 2
test: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --durations 15 tests

bench: setup
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

# The QA-exposure study: every arm of study/grid.yaml as a queued `dvc exp run` -> reports/study.md
# (+ study.png). Reruns reuse finished arms. STUDY_ARGS=--quick runs the small test grid; --jobs 1 on a GPU.
STUDY_ARGS ?= --jobs 2
study: repro
	$(BIN)/cptpipe study --out reports/study.md $(STUDY_ARGS)

# Replay x LR grid of study/sweep.yaml -> reports/sweep.md + .png: the absorption-forgetting front and
# the recommended setting (SWEEP_ARGS="--max-forgetting 1.5 --grid FILE" to change).
SWEEP_ARGS ?= --jobs 2
sweep: repro
	$(BIN)/cptpipe sweep --out reports/sweep.md $(SWEEP_ARGS)

compare: setup
	$(BIN)/cptpipe compare

clean:
	rm -rf data/shards data/qa data/tokens data/mix models reports/eval reports/train reports/plots
