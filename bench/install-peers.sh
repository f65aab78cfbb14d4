#!/usr/bin/env bash
# The encoders bench/bench_peers.py compares against, and the `datasets` pipeline that
# bench/bench_corpus.py compares against, from PyPI into the benchmark's venv.
# Benchmark-only: none of them is a dependency of toktool.
set -euo pipefail
PYTHON=${PYTHON:-.venv/bin/python}
"$PYTHON" -m pip install -q "tokie==0.1.4" "gigatoken==0.10.0" "bpe-openai==0.1.4" \
    "fastokens==0.3.5" "kitoken==0.11.1" tiktoken "datasets==5.2.0"
