"""Tokenizers read straight from GGUF files: ids against HF ``tokenizers`` on the original files."""

from __future__ import annotations

import json
import pathlib
from typing import Any

import pytest

import toktool
from toktool import artifacts

gguf = pytest.importorskip("gguf")
tokenizers = pytest.importorskip("tokenizers")

CONTROL, USER_DEFINED, NORMAL = 3, 4, 1

# Every tokenizer.ggml.pre name toktool reads (llama.cpp src/llama-vocab.cpp).
PRE_NAMES = [
    "llama-bpe", "llama3", "qwen2", "qwen35", "deepseek-llm", "deepseek-coder", "deepseek-v3",
    "starcoder", "refact", "command-r", "gpt-2", "mpt", "olmo", "dbrx", "smaug-bpe", "poro-chat",
    "chatglm-bpe", "viking", "jais", "tekken", "smollm", "codeshell", "bloom", "gpt3-finnish",
    "exaone", "chameleon", "minerva-7b", "gpt-4o", "superbpe", "trillion", "bailingmoe",
    "seed-coder", "tiny_aya", "kimi-k2", "falcon", "default",
]

def _texts() -> list[str]:
    code = "".join(artifacts.stdlib_corpus(max_bytes=150_000))
    chunks = [code[i : i + 2000] for i in range(0, len(code), 2000)]
    for text in artifacts.multilingual_corpus().values():
        chunks += [text[i : i + 2000] for i in range(0, min(len(text), 20_000), 2000)]
    return chunks + ["", " ", "a  b\n\n\t x", "12345678 1,234.5 ٣٤٥", "it's I'LL 東京 🎋\u2028\x85"]


TEXTS = _texts()


def _write(path: pathlib.Path, model: str, tokens: list[str], types: list[int], *,
           merges: list[str] | None = None, pre: str | None = None,
           scores: list[float] | None = None, extra: dict[str, Any] | None = None) -> pathlib.Path:
    w = gguf.GGUFWriter(str(path), arch="llama")
    w.add_tokenizer_model(model)
    if pre is not None:
        w.add_tokenizer_pre(pre)
    w.add_token_list(tokens)
    w.add_token_types(types)
    if merges is not None:
        w.add_token_merges(merges)
    if scores is not None:
        w.add_token_scores(scores)
    for key, value in (extra or {}).items():
        getattr(w, f"add_{key}")(value)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def _byte_level_vocab(doc: dict[str, Any]) -> tuple[list[str], list[int], list[str]]:
    """tokens/types/merges as convert_hf_to_gguf writes them for a byte-level tokenizer.json."""
    by_id: dict[int, tuple[str, int]] = {i: (t, NORMAL) for t, i in doc["model"]["vocab"].items()}
    for t in doc["added_tokens"]:
        by_id[t["id"]] = (t["content"], CONTROL if t["special"] else USER_DEFINED)
    size = max(by_id) + 1
    for i in range(size):  # holes become unused "[PAD<i>]" tokens, as convert_hf_to_gguf writes them
        by_id.setdefault(i, (f"[PAD{i}]", 5))
    merges = [m if isinstance(m, str) else " ".join(m) for m in doc["model"]["merges"]]
    return [by_id[i][0] for i in range(size)], [by_id[i][1] for i in range(size)], merges


def _mismatches(tok: toktool.Tokenizer, hf: Any) -> int:
    return sum(tok.encode(t) != hf.encode(t, add_special_tokens=False).ids for t in TEXTS)


def test_smollm2_gguf_matches_hf_on_the_project_tokenizer_json() -> None:
    tok = toktool.Tokenizer.from_gguf(artifacts.smollm2_gguf_path())
    hf = tokenizers.Tokenizer.from_file(str(artifacts.tokenizer_json("smollm2")))
    assert _mismatches(tok, hf) == 0
    info = tok.info()
    assert (info["gguf_model"], info["gguf_pre"], info["vocab_size"]) == ("gpt2", "smollm", 49152)
    assert info["add_bos"] is False and info["eos_id"] is not None
    assert toktool.load_tokenizer(str(artifacts.smollm2_gguf_path())).encode("Hi 42") == tok.encode("Hi 42")


@pytest.mark.parametrize(("name", "pre"), [("llama3", "llama-bpe"), ("o200k", "gpt-4o"), ("tekken", "tekken")])
def test_byte_level_gguf_matches_hf_on_the_original(tmp_path: pathlib.Path, name: str, pre: str) -> None:
    src = artifacts.tokenizer_json(name)
    doc = json.loads(src.read_text(encoding="utf-8"))
    tokens, types, merges = _byte_level_vocab(doc)
    path = _write(tmp_path / f"{name}.gguf", "gpt2", tokens, types, merges=merges, pre=pre)
    tok = toktool.Tokenizer.from_gguf(path)
    hf = tokenizers.Tokenizer.from_file(str(src))
    assert _mismatches(tok, hf) == 0
    out = tmp_path / "out.json"
    out.write_text(tok.to_str(), encoding="utf-8")
    assert _mismatches(tok, tokenizers.Tokenizer.from_file(str(out))) == 0


def test_sentencepiece_gguf_matches_hf_on_mistral(tmp_path: pathlib.Path) -> None:
    spm = pytest.importorskip("sentencepiece")
    sp = spm.SentencePieceProcessor(model_file=str(artifacts.source_file("mistral-sp")))
    n = sp.get_piece_size()
    tokens = [sp.id_to_piece(i) for i in range(n)]
    scores = [sp.get_score(i) for i in range(n)]

    def kind(i: int) -> int:
        if sp.is_unknown(i):
            return 2
        if sp.is_control(i):
            return CONTROL
        if sp.is_byte(i):
            return 6
        return 5 if sp.is_unused(i) else NORMAL

    types = [kind(i) for i in range(n)]
    path = _write(tmp_path / "mistral.gguf", "llama", tokens, types, scores=scores,
                  extra={"bos_token_id": 1, "eos_token_id": 2, "unk_token_id": 0})
    tok = toktool.Tokenizer.from_gguf(path)
    # llama.cpp's SPM tokenizer puts a space before every run of text, as the legacy Llama form
    # (Prepend + Replace) does; the non-legacy Metaspace form differs only where a text already
    # starts with a space (llama.cpp's own reference ids: tests/test_gguf_llamacpp.py).
    hf = tokenizers.Tokenizer.from_file(str(artifacts.tokenizer_json("mistral-sp-legacy")))
    assert _mismatches(tok, hf) == 0
    metaspace = tokenizers.Tokenizer.from_file(str(artifacts.tokenizer_json("mistral-sp")))
    assert sum(tok.encode(t) != metaspace.encode(t, add_special_tokens=False).ids
               for t in TEXTS if not t.startswith((" ", "\n")) and "\n " not in t) == 0
    assert tok.info()["add_bos"] is True and tok.info()["byte_fallback"] is True


@pytest.fixture(scope="module")
def llama3_vocab() -> tuple[list[str], list[int], list[str]]:
    return _byte_level_vocab(json.loads(artifacts.tokenizer_json("llama3").read_text(encoding="utf-8")))


@pytest.mark.parametrize("pre", PRE_NAMES)
def test_every_pre_name_loads_and_matches_hf(tmp_path: pathlib.Path, pre: str,
                                             llama3_vocab: tuple[list[str], list[int], list[str]]) -> None:
    tokens, types, merges = llama3_vocab
    tok = toktool.Tokenizer.from_gguf(_write(tmp_path / "t.gguf", "gpt2", tokens, types, merges=merges, pre=pre))
    hf = tokenizers.Tokenizer.from_str(tok.to_str())
    sample = TEXTS[::7]
    bad = [t for t in sample if tok.encode(t) != hf.encode(t, add_special_tokens=False).ids]
    assert not bad, f"{pre}: {len(bad)} of {len(sample)} differ"


@pytest.mark.parametrize(("name", "pre"), [("smollm2", "smollm"), ("llama3", "llama-bpe"), ("tekken", "tekken")])
def test_pre_tokenizer_is_the_original_files(tmp_path: pathlib.Path, name: str, pre: str) -> None:
    doc = json.loads(artifacts.tokenizer_json(name).read_text(encoding="utf-8"))
    tokens, types, merges = _byte_level_vocab(doc)
    tok = toktool.Tokenizer.from_gguf(_write(tmp_path / "t.gguf", "gpt2", tokens, types, merges=merges, pre=pre))
    assert json.loads(tok.to_str())["pre_tokenizer"] == doc["pre_tokenizer"]


@pytest.mark.parametrize(("model", "pre", "needle"), [
    ("bert", None, '"bert"'), ("t5", None, '"t5"'), ("rwkv", None, '"rwkv"'),
    ("gpt2", "no-such-pre", '"no-such-pre"'), ("gpt2", "gemma4", '"gemma4"'),
])
def test_refusals_name_what_is_refused(tmp_path: pathlib.Path, model: str, pre: str | None, needle: str,
                                       llama3_vocab: tuple[list[str], list[int], list[str]]) -> None:
    tokens, types, merges = llama3_vocab
    path = _write(tmp_path / "r.gguf", model, tokens, types, merges=merges, pre=pre)
    with pytest.raises(toktool.UnsupportedComponentError, match=needle if needle[0] != '"' else needle[1:-1]):
        toktool.Tokenizer.from_gguf(path)


def test_truncated_and_garbled_files_raise_gguf_format_error(tmp_path: pathlib.Path) -> None:
    src = artifacts.smollm2_gguf_path().read_bytes()[:4_000_000]
    for cut in (3, 10, 30, 1000, 200_000):
        bad = tmp_path / f"cut{cut}.gguf"
        bad.write_bytes(src[:cut])
        with pytest.raises(toktool.GgufFormatError, match="byte"):
            toktool.Tokenizer.from_gguf(bad)
    garbled = tmp_path / "garbled.gguf"
    garbled.write_bytes(src[:16] + b"\xff" * 8 + src[24:])
    with pytest.raises(toktool.GgufFormatError, match="cannot fit"):
        toktool.Tokenizer.from_gguf(garbled)


def test_cli_info_and_convert(tmp_path: pathlib.Path) -> None:
    from typer.testing import CliRunner

    from toktool.cli.app import app

    gg = str(artifacts.smollm2_gguf_path())
    res = CliRunner().invoke(app, ["info", gg, "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["gguf_pre"] == "smollm"
    out = tmp_path / "smollm2.json"
    res = CliRunner().invoke(app, ["convert", "tokenizer", gg, str(out)])
    assert res.exit_code == 0, res.output
    assert _mismatches(toktool.Tokenizer.from_gguf(gg), tokenizers.Tokenizer.from_file(str(out))) == 0
