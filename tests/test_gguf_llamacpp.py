"""Real GGUF vocabularies from llama.cpp (models/ggml-vocab-*.gguf, fetched from the llama-cpp-python
sdist by scripts/fetch-llamacpp-vocab.py) against llama.cpp's own reference ids (the .inp/.out files
its test-tokenizer-0 checks) and against HF `tokenizers` on the tokenizer.json toktool writes."""

from __future__ import annotations

import os
import pathlib
import sys

import pytest
import tokenizers

import toktool

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "scripts"))
_fetch = __import__("fetch-llamacpp-vocab")
VOCAB = _fetch.target_dir()

# Every vocabulary the archive ships, and what toktool does with it.
LOADS = ["aquila", "baichuan", "command-r", "deepseek-coder", "deepseek-llm", "falcon", "gpt-2", "gpt-neox",
         "llama-bpe", "llama-spm", "mpt", "phi-3", "qwen2", "qwen35", "refact", "starcoder"]
REFUSED = {"bert-bge": "WordPiece", "nomic-bert-moe": "Unigram", "gemma-4": "gemma4"}


def _path(name: str) -> pathlib.Path:
    path = VOCAB / f"ggml-vocab-{name}.gguf"
    if not path.exists():
        pytest.fail(f"{path} missing: run `python scripts/fetch-llamacpp-vocab.py` (make install does)")
    return path


def reference(name: str) -> list[tuple[str, list[int]]]:
    """llama.cpp's test cases: texts separated by `__ggml_vocab_test__` lines, one id line each."""
    path = _path(name)
    inp = pathlib.Path(f"{path}.inp").read_text(encoding="utf-8")
    texts = inp.split("\n__ggml_vocab_test__\n")
    if texts[-1] == "":
        texts.pop()
    lines = pathlib.Path(f"{path}.out").read_text(encoding="utf-8").split("\n")
    assert len(lines) >= len(texts)
    return [(t, [int(v) for v in line.split()]) for t, line in zip(texts, lines)]


def test_the_archive_is_what_the_lists_say() -> None:
    shipped = sorted(p.name[len("ggml-vocab-"):-len(".gguf")] for p in VOCAB.glob("ggml-vocab-*.gguf"))
    assert shipped == sorted(LOADS + list(REFUSED))


@pytest.mark.parametrize("name", [n for n in LOADS if os.path.exists(VOCAB / f"ggml-vocab-{n}.gguf.out")])
def test_ids_equal_llamacpp_reference(name: str) -> None:
    tok = toktool.Tokenizer.from_gguf(_path(name))
    cases = reference(name)
    assert len(cases) >= 40
    bad = [(text, tok.encode(text), ids) for text, ids in cases if tok.encode(text) != ids]
    assert bad == []


@pytest.mark.parametrize("name", LOADS)
def test_written_tokenizer_json_gives_the_same_ids_in_hf(name: str, tmp_path: pathlib.Path) -> None:
    tok = toktool.Tokenizer.from_gguf(_path(name))
    out = tmp_path / "tokenizer.json"
    out.write_text(tok.to_str(), encoding="utf-8")
    hf = tokenizers.Tokenizer.from_file(str(out))
    texts = [t for t, _ in reference(name)] if os.path.exists(f"{_path(name)}.inp") else []
    texts += [pathlib.Path(toktool.__file__).read_text(encoding="utf-8"), "naïve café 東京 🎋 x²³ ١٢٣ \u2028 \x85 end"]
    for text in texts:
        assert tok.encode(text) == hf.encode(text, add_special_tokens=False).ids, text[:60]


@pytest.mark.parametrize("name,reason", sorted(REFUSED.items()))
def test_refused_by_name(name: str, reason: str) -> None:
    with pytest.raises(toktool.UnsupportedComponentError, match=reason):
        toktool.Tokenizer.from_gguf(_path(name))
