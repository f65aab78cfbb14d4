"""Fetch llama.cpp's tokenizer test vocabularies (models/ggml-vocab-*.gguf with their .inp/.out
reference ids) from the llama-cpp-python source distribution on PyPI, which vendors llama.cpp.

Only the vocabulary files are kept, under ~/.cache/toktool/llamacpp-vocab (or $TOKTOOL_CACHE/
llamacpp-vocab). The archive is pinned by version and sha256; nothing is built or installed.
Used by tests/test_gguf_llamacpp.py and bench/exactness_report.py.

    python scripts/fetch-llamacpp-vocab.py [--force]
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pathlib
import sys
import tarfile
import urllib.request

VERSION = "0.3.36"
SDIST = f"llama_cpp_python-{VERSION}.tar.gz"
SHA256 = "832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e"
INDEX = os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple").rstrip("/")
PREFIX = f"llama_cpp_python-{VERSION}/vendor/llama.cpp/models/"


def target_dir() -> pathlib.Path:
    root = os.environ.get("TOKTOOL_CACHE") or pathlib.Path.home() / ".cache" / "toktool"
    return pathlib.Path(root) / "llamacpp-vocab"


def sdist_url() -> str:
    req = urllib.request.Request(f"{INDEX}/llama-cpp-python/", headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    with urllib.request.urlopen(req, timeout=120) as resp:
        files = json.load(resp)["files"]
    for f in files:
        if f["filename"] == SDIST:
            return str(f["url"])
    raise SystemExit(f"{SDIST} is not on {INDEX}")


def main() -> int:
    out = target_dir()
    marker = out / f".complete-{VERSION}"
    if marker.exists() and "--force" not in sys.argv:
        print(f"llama.cpp vocabularies: already in {out}")
        return 0
    url = sdist_url()
    print(f"llama.cpp vocabularies: downloading {SDIST} (~75 MB) from PyPI")
    with urllib.request.urlopen(url, timeout=600) as resp:
        blob = resp.read()
    digest = hashlib.sha256(blob).hexdigest()
    if digest != SHA256:
        raise SystemExit(f"{SDIST}: sha256 {digest}, expected {SHA256}")
    out.mkdir(parents=True, exist_ok=True)
    n = 0
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
        for member in tar.getmembers():
            name = member.name
            if not (member.isfile() and name.startswith(PREFIX + "ggml-vocab-")):
                continue
            data = tar.extractfile(member)
            assert data is not None
            dest = out / name[len(PREFIX):]
            tmp = dest.with_suffix(dest.suffix + ".tmp")
            tmp.write_bytes(data.read())
            tmp.replace(dest)
            n += 1
    marker.write_text(f"{SDIST} {SHA256}\n")
    print(f"llama.cpp vocabularies: {n} files in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
