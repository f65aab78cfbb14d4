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

.PHONY: install install-deps build demo test test-rust test-python stubtest bench bench-merge eval eval-merge eval-zett fuzz fuzz-build fuzz-smoke lint clean

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
	PYTHON=$(PY) bash bench/install-peers.sh
	RAYON_NUM_THREADS=1 $(PY) bench/bench_peers.py --out docs/BENCHMARKS.md
	$(PY) bench/bench_corpus.py --out docs/BENCHMARKS.md
	$(PY) bench/digits_report.py --out docs/DIGITS.md
	$(PY) bench/bench_merge.py --out docs/MERGE.md
	$(PY) bench/bench_healing.py --out docs/HEALING.md

bench-merge: install
	$(PY) bench/bench_merge.py --out docs/MERGE.md --min-ratio 100


# ZeTT: train (or resume) the SmolLM2 hypernetwork (phase 1: ZETT_RECON_STEPS reconstruction
# steps, ~5 min on CPU; phase 1b: an output tower with a length prior calibrated on cached LM
# states, ~3 min, and ZETT_OUTPUT_STEPS distillation steps, 0 by default; phase 1c:
# ZETT_ALIGN steps of input alignment over sampled vocabularies, ~15 min; phase 2: ZETT_STEPS
# LM steps, 0 by default), then transfer and score 32 KB of held-out code and prose per target
# (24 min measured on one thread).
ZETT_RECON_STEPS ?= 500
ZETT_OUTPUT_STEPS ?= 0
ZETT_ALIGN ?= 100
ZETT_STEPS ?= 0
ZETT_IDENTITY ?= 10
ZETT_CHECKPOINT ?= $(HOME)/.cache/toktool/zett/smollm2-mean-r$(ZETT_RECON_STEPS)-i$(ZETT_IDENTITY)-op$(ZETT_OUTPUT_STEPS)$(if $(filter-out 0,$(ZETT_ALIGN)),-as$(ZETT_ALIGN))-s$(ZETT_STEPS)/checkpoint
eval-zett: install
	$(PY) bench/eval_zett.py --reconstruct-steps $(ZETT_RECON_STEPS) --output-steps $(ZETT_OUTPUT_STEPS) --align-steps $(ZETT_ALIGN) --align-vocabularies sampled --steps $(ZETT_STEPS) --identity-share 0.$(ZETT_IDENTITY) --out docs/ZETT.md

# Dynamic merging's hypernetwork (docs/MERGE.md; the whole recipe 1 h 54 min on a 2-core CPU,
# docs/MERGE.md *Recipe time*): the same phase 1, then 60 steps distilling a
# per-token prior over pool-wide vocabularies, on LM states cached over code, English and the
# first three quarters of eight other Debian Reference languages (~11 min with phase 1), then
# ZETT_MERGE_ALIGN steps of input alignment (the LM reading merged windows of the nine
# languages trained to reach the states it has after reading their parts; ~27 min for 250,
# once). It beats FVT on merged tokens in every language; on whole foreign vocabularies it is
# worse than the default recipe (docs/ZETT.md, variants), so each job has its own checkpoint.
ZETT_MERGE_LANGUAGES ?= de,es,fr,id,it,ja,pt,zh-cn
ZETT_MERGE_ALIGN ?= 250
# then ZETT_MERGE_OUTPUT steps of output alignment (the output tower trained on the merged windows'
# cross-entropy; ~18 min for 400; docs/MERGE.md measures 200 and 400)
ZETT_MERGE_OUTPUT ?= 400
# then phase 1e: ZETT_MERGE_FOCUS_OUTPUT more steps of output alignment and ZETT_MERGE_FOCUS_ALIGN
# of input alignment on windows drawn with ZETT_MERGE_FOCUS_WEIGHTS (Japanese and Chinese, where
# merging costs most, drawn 4 times as often as each other language; ~31 min; docs/MERGE.md)
ZETT_MERGE_FOCUS_OUTPUT ?= 300
ZETT_MERGE_FOCUS_ALIGN ?= 150
ZETT_MERGE_FOCUS_WEIGHTS ?= ja=4,zh-cn=4
comma := ,
ZETT_MERGE_FOCUS_TAG = $(if $(filter-out 0,$(ZETT_MERGE_FOCUS_OUTPUT)),-fo$(ZETT_MERGE_FOCUS_OUTPUT))$(if $(filter-out 0,$(ZETT_MERGE_FOCUS_ALIGN)),-fa$(ZETT_MERGE_FOCUS_ALIGN))$(if $(filter-out 00,$(ZETT_MERGE_FOCUS_OUTPUT)$(ZETT_MERGE_FOCUS_ALIGN)),$(if $(ZETT_MERGE_FOCUS_WEIGHTS),-w$(subst =,,$(subst $(comma),,$(ZETT_MERGE_FOCUS_WEIGHTS)))))
# then phase 1f: a character table for ZETT_MERGE_TABLE_DOCS' characters (a learned row per
# character SmolLM2 spells with several tokens, beside the hypernetwork's prediction),
# ZETT_MERGE_TABLE_INPUT steps of its input rows, then ZETT_MERGE_TABLE_OUTPUT of its output
# rows (~24 min on 2 cores; docs/MERGE.md, *Character table*)
ZETT_MERGE_TABLE_INPUT ?= 200
ZETT_MERGE_TABLE_OUTPUT ?= 120
ZETT_MERGE_TABLE_DOCS ?= ja,zh-cn
ZETT_MERGE_TABLE_TAG = $(if $(filter-out 00,$(ZETT_MERGE_TABLE_INPUT)$(ZETT_MERGE_TABLE_OUTPUT)),$(if $(filter-out 0,$(ZETT_MERGE_TABLE_INPUT)),-ti$(ZETT_MERGE_TABLE_INPUT))$(if $(filter-out 0,$(ZETT_MERGE_TABLE_OUTPUT)),-to$(ZETT_MERGE_TABLE_OUTPUT))-t$(subst $(comma),-,$(ZETT_MERGE_TABLE_DOCS)))
ZETT_MERGE_CHECKPOINT ?= $(HOME)/.cache/toktool/zett/smollm2-mean-r$(ZETT_RECON_STEPS)-i$(ZETT_IDENTITY)-op60-ml30-al$(ZETT_MERGE_ALIGN)$(if $(filter-out 0,$(ZETT_MERGE_OUTPUT)),-mo$(ZETT_MERGE_OUTPUT))$(ZETT_MERGE_FOCUS_TAG)$(ZETT_MERGE_TABLE_TAG)-s0/checkpoint
$(ZETT_MERGE_CHECKPOINT)/hypernet.json: | install
	$(PY) bench/eval_zett.py --train-only --reconstruct-steps $(ZETT_RECON_STEPS) --identity-share 0.$(ZETT_IDENTITY) --output-steps 60 --output-languages $(ZETT_MERGE_LANGUAGES) --output-per-language 30 --align-steps $(ZETT_MERGE_ALIGN) --merge-output-steps $(ZETT_MERGE_OUTPUT) --focus-output-steps $(ZETT_MERGE_FOCUS_OUTPUT) --focus-align-steps $(ZETT_MERGE_FOCUS_ALIGN) --focus-weights '$(ZETT_MERGE_FOCUS_WEIGHTS)' --table-input-steps $(ZETT_MERGE_TABLE_INPUT) --table-output-steps $(ZETT_MERGE_TABLE_OUTPUT) --table-documents '$(ZETT_MERGE_TABLE_DOCS)'

# The tables (~8 min on 2 cores), then the same on Debian's manual pages, text no phase read
# (~8 min), then the quality table on 4x the scored text with standard errors (~13 min);
# MERGE_FIT_STEPS=96 adds the '+ fit' columns (the merged tokens' rows fitted on each
# merge batch at 100 merges, steps of ~2 s each per language: ~65 min more).
MERGE_FIT_STEPS ?= 0
eval-merge: install $(ZETT_MERGE_CHECKPOINT)/hypernet.json
	$(PY) bench/eval_merge.py --out docs/MERGE.md --hypernet $(ZETT_MERGE_CHECKPOINT) --fit-steps $(MERGE_FIT_STEPS)
	$(PY) bench/eval_merge.py --corpus manpages --out docs/MERGE.md --hypernet $(ZETT_MERGE_CHECKPOINT)
	$(PY) bench/eval_merge.py --eval-seqs 8 --no-prefill --out docs/MERGE.md --hypernet $(ZETT_MERGE_CHECKPOINT)


# Model-quality evaluations (SmolLM2 on CPU, a few minutes each).
eval: install
	$(PY) bench/eval_healing.py --out docs/HEALING.md

# Fuzzing (fuzz/): each target runs FUZZ_SECONDS (make fuzz) or FUZZ_SMOKE_SECONDS (make fuzz-smoke,
# CI) over its committed crash reproducers (fuzz/corpus_seed/) and seeds from the tests' data, against
# the synthetic tokenizers built into the targets plus the real ones named in FUZZ_TOKENIZERS.
# cargo-fuzz passes nightly-only rustc flags: RUSTC_BOOTSTRAP=1 lets the stable toolchain accept them.
# No sanitizer: the core's only unsafe code is scan_blocks' SSE2 loads from a 64-byte array, and ASan
# would only slow the search down.
FUZZ_TARGETS ?= tokenizer_json_load encode_roundtrip encode_matches_reference \
	is_canonical_matches_reencode cover_search_matches_bruteforce merge_matches_reference \
	digits_split_roundtrip
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 10
FUZZ_TOKENIZERS ?= smollm2,llama3,o200k,mistral-sp
FUZZ_SMOKE_TOKENIZERS ?= smollm2,mistral-sp
CARGO_FUZZ := RUSTC_BOOTSTRAP=1 cargo fuzz
FUZZ_BUILD_FLAGS := --release --sanitizer none

fuzz-build: install
	cargo fuzz --version >/dev/null 2>&1 || cargo install --locked cargo-fuzz@0.13.2
	$(CARGO_FUZZ) build $(FUZZ_BUILD_FLAGS)

fuzz-run = @mkdir -p fuzz/logs; for t in $(FUZZ_TARGETS); do \
	  mkdir -p fuzz/corpus/$$t fuzz/corpus_seed/$$t; \
	  if ! TOKTOOL_FUZZ_TOKENIZERS=$(abspath fuzz/tokenizers) $(CARGO_FUZZ) run $(FUZZ_BUILD_FLAGS) \
	      $$t $(CURDIR)/fuzz/corpus/$$t $(CURDIR)/fuzz/corpus_seed/$$t -- -max_total_time=$(1) -rss_limit_mb=4096 \
	      -print_final_stats=1 >fuzz/logs/$$t.log 2>&1; then \
	    tail -n 60 fuzz/logs/$$t.log; echo "fuzz $$t FAILED (log: fuzz/logs/$$t.log)"; exit 1; \
	  fi; \
	  echo "fuzz $$t: $$(grep -E '^Done' fuzz/logs/$$t.log)"; \
	done

fuzz: fuzz-build
	$(PY) fuzz/prepare.py --tokenizers "$(FUZZ_TOKENIZERS)"
	$(call fuzz-run,$(FUZZ_SECONDS))

# The CI run: small real tokenizers only (loading the big ones takes longer than the run).
fuzz-smoke: fuzz-build
	$(PY) fuzz/prepare.py --tokenizers "$(FUZZ_SMOKE_TOKENIZERS)"
	$(call fuzz-run,$(FUZZ_SMOKE_SECONDS))

lint:
	cargo fmt --all --check
	cargo clippy --workspace -- -D warnings
	# the portable-wheel build (limited API) has its own list path: keep it compiling
	cargo clippy -p toktool-py --features abi3 -- -D warnings
	$(PY) -m ruff check python tests bench scripts
	$(PY) -m mypy

clean:
	rm -rf $(VENV) target
