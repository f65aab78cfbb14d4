"""The settled token context on the command line: ``toktool bytes generate --context/--chat/
--system`` and ``toktool heal`` with the same options, run through typer's CliRunner on the real
SmolLM2 tokenizer and a tiny random Llama over its vocabulary (saved as a model directory, as
``--model`` takes it).

The ChatML text written out by hand (the spelling SmolLM2's chat template produces) is the
reference: ``--chat``/``--system`` must condition on exactly its tokens."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from typer.testing import CliRunner  # noqa: E402

import toktool  # noqa: E402
from toktool.bytes import chat_context  # noqa: E402
from toktool.cli import app  # noqa: E402
from toktool.healing import TokenHealer, heal_generate  # noqa: E402
from toktool.hf import HFTokenLM, load_causal_lm  # noqa: E402

CHATML = ("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWrite code<|im_end|>\n"
          "<|im_start|>assistant\n")


@pytest.fixture(scope="module")
def tok() -> Any:
    return toktool.load_tokenizer("smollm2")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory, tok: Any) -> Path:
    config = transformers.LlamaConfig(
        vocab_size=tok.vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=256,
        bos_token_id=None, eos_token_id=0, pad_token_id=0, initializer_range=0.5,
    )
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(config)
    out = tmp_path_factory.mktemp("tiny-llama")
    model.save_pretrained(out)
    return out


def run(*args: str) -> bytes:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout_bytes


def test_chat_context_is_the_chatml_text(tok: Any) -> None:
    ids = chat_context(tok, [("system", "Be brief."), ("user", "Write code")])
    assert ids == tok.encode(CHATML)
    assert tok.decode_bytes(ids) == CHATML.encode()


@pytest.mark.parametrize("method", ["exact", "heal", "naive"])
def test_bytes_generate_chat_equals_context_and_the_api(model_dir: Path, tok: Any,
                                                        method: str) -> None:
    prompt = "def fibon"
    common = ["bytes", "generate", prompt, "--model", str(model_dir), "--tokenizer", "smollm2",
              "--temperature", "0", "--max-bytes", "12", "--method", method]
    chat = run(*common, "--system", "Be brief.", "--chat", "Write code")
    literal = run(*common, "--context", CHATML.replace("\n", "\\n"))
    plain = run(*common)
    assert chat == literal
    assert chat.startswith(prompt.encode())
    ctx = tok.encode(CHATML)
    lm = HFTokenLM(load_causal_lm(model_dir))
    if method == "exact":
        want = toktool.ByteLM(lm, tok, eos_id=0).generate(
            prompt.encode(), max_bytes=12, temperature=0, context=ctx)
    elif method == "heal":
        want = heal_generate(lm, tok, prompt.encode(), max_bytes=12, context=ctx)
    else:
        from toktool.healing import naive_generate

        want = naive_generate(lm, tok, prompt.encode(), max_bytes=12, context=ctx)
    assert chat == prompt.encode() + want + b"\n"
    # The context reaches the model: without it, this random model continues differently.
    assert plain != chat


def test_heal_cli_keeps_the_context_out_of_the_back_off(tok: Any) -> None:
    out = run("heal", "-t", "smollm2", "--system", "Be brief.", "--chat", "Write code",
              "x = os.path.jo").decode()
    ctx_len = len(tok.encode(CHATML))
    assert f"context:       {ctx_len} tokens (settled, not healed)" in out
    assert "constraint:    b'jo'" in out
    assert "b'join'" in out
    # The prompt lines are the same as without a context.
    bare = run("heal", "-t", "smollm2", "x = os.path.jo").decode()
    assert _same_but_timing(out, bare)


def _same_but_timing(a: str, b: str) -> bool:
    """The two outputs match line by line, the mask timing aside."""
    la = [ln for ln in a.splitlines() if not ln.startswith(("context:", "allowed:"))]
    lb = [ln for ln in b.splitlines() if not ln.startswith("allowed:")]
    return la == lb


def test_heal_with_context_prepends_it_and_backs_off_only_the_prompt(tok: Any) -> None:
    healer = TokenHealer(tok)
    ctx = tok.encode(CHATML)
    bare = healer.heal(b"x = os.path.jo")
    healed = healer.heal(b"x = os.path.jo", context=ctx)
    assert healed.ids == ctx + bare.ids
    assert healed.prompt_ids == ctx + bare.prompt_ids
    assert healed.removed_ids == bare.removed_ids
    assert healed.constraint_bytes == b"jo"
    assert healed.prompt_ids == healed.ids + healed.removed_ids
    # A context can't be healed away, however much the prompt backs off.
    whole = healer.heal(b"jo", context=ctx)
    assert whole.ids[: len(ctx)] == ctx and whole.constraint_bytes == b"jo"
    with pytest.raises(toktool.InvalidInputError, match="outside the tokenizer's vocabulary"):
        healer.heal(b"x", context=[tok.vocab_size])
