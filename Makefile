# One interface for people and CI: make install | demo | test | bench | eval | fuzz | lint
# Everything installs into .venv from PyPI / crates.io / Debian; nothing is installed by hand.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
export VIRTUAL_ENV := $(abspath $(VENV))
export PATH := $(abspath $(BIN)):$(PATH)
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install install-deps build demo test test-rust test-python stubtest bench bench-merge eval eval-merge fuzz lint clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# Python dependencies, real tokenizer/model artifacts (PyPI) and text corpora (Debian).
install-deps: $(PY)
	PYTHON=$(PY) bash scripts/install-test-deps.sh

# The extension, compiled in release mode into the venv (editable Python sources).
build: $(PY)
	$(PY) -m pip install -q "maturin>=1.7,<2"
	$(BIN)/maturin develop --release --quiet

install: install-deps build

demo: install
	$(BIN)/toktool demo

test: install test-rust test-python

test-rust:
	cargo test --workspace --exclude toktool-py --quiet

test-python:
	$(PY) -m pytest tests -q

stubtest:
	$(PY) -m mypy.stubtest toktool._toktool

bench: install
	$(PY) bench/bench_encode.py --out docs/BENCHMARKS.md
	$(PY) bench/digits_report.py --out docs/DIGITS.md
	$(PY) bench/bench_merge.py --out docs/MERGE.md
	$(PY) bench/bench_healing.py --out docs/HEALING.md

bench-merge: install
	$(PY) bench/bench_merge.py --out docs/MERGE.md --min-ratio 100

eval-merge: install
	$(PY) bench/eval_merge.py --out docs/MERGE.md


# Model-quality evaluations (SmolLM2 on CPU, a few minutes each).
eval: install
	$(PY) bench/eval_healing.py --out docs/HEALING.md

fuzz:
	cd fuzz && cargo +nightly fuzz run tokenizer_json_load -- -max_total_time=60

lint:
	cargo fmt --all --check
	cargo clippy --workspace --exclude toktool-py -- -D warnings
	$(PY) -m mypy

clean:
	rm -rf $(VENV) target
