#!/usr/bin/env bash
# The HF-adapter tests (tests/test_hf.py) once more, under the oldest transformers that
# pyproject.toml allows, with FutureWarning as an error. A throwaway venv layered over the
# project's venv (torch, numpy and the built toktool come from there) gets only that transformers
# and the tokenizers / huggingface-hub it pins, without dependencies: a few seconds when pip's
# cache holds the wheels.
#
#   VENV=.venv scripts/test-oldest-transformers.sh
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${VENV:-.venv}"
# Keep in step with the floor in pyproject.toml (the torch extra and the main dependency list).
OLDEST=(transformers==4.45.0 tokenizers==0.20.3 huggingface-hub==0.26.5)

BASE_PY="$(cd "$VENV" && pwd)/bin/python"
TMP="$(mktemp -d "${TMPDIR:-/tmp}/toktool-oldest-tf.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT

"$BASE_PY" -m venv --without-pip "$TMP/venv"
SITE="$("$TMP/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
# The project venv's import path, after this venv's own site-packages (so the old pins win).
"$BASE_PY" -c 'import sys; print("\n".join(p for p in sys.path[1:] if p and not p.startswith(sys.base_prefix)))' \
  > "$SITE/zz_project_venv.pth"
"$BASE_PY" -m pip install --quiet --disable-pip-version-check --no-deps --target "$SITE" "${OLDEST[@]}"

"$TMP/venv/bin/python" -c 'import transformers, torch; print("transformers", transformers.__version__, "torch", torch.__version__)'
"$TMP/venv/bin/python" -m pytest tests/test_hf.py -q -p no:cacheprovider -W error::FutureWarning
