"""Zero-shot tokenizer transfer (ZeTT; Minixhofer, Ponti and Vulić, NeurIPS 2024) in PyTorch.

A hypernetwork predicts input and output embeddings for the tokens of a new vocabulary from
their decomposition into the model's original tokens, so a model can swap tokenizers without
retraining. The parts:

- ``toktool.zett.decompose``: a whole vocabulary into original ids, in the Rust core;
- ``toktool.zett.sampler``: the training-time tokenizer sampler (noised substring frequencies of
  the current batch, UnigramLM segmentation), in the Rust core;
- ``toktool.zett.model``: the hypernetwork (``torch.nn.Module``), safetensors checkpoints;
- ``toktool.zett.reconstruct``: reconstruction pretraining (each original token predicted from
  smaller original tokens, no LM forward);
- ``toktool.zett.train``: the training loop (single process or ``torchrun`` DDP);
- ``toktool.zett.transfer``: writing a converted Hugging Face model directory;
- ``toktool.zett.continuation``: a continuation prior counted on training text, mixed into the
  output rows at transfer;
- ``toktool.zett.align``: input alignment for dynamic merging (the LM reading merged tokens is
  trained to reach the next-token distributions it has after reading their parts);
- ``toktool.zett.merge_output``: output alignment for dynamic merging (the output tower trained
  on the cross-entropy of merged text over the original vocabulary plus the batch's new tokens).
"""

from __future__ import annotations

from typing import Any

from toktool.zett.decompose import Decomposition, decompose, decompose_vocab
from toktool.zett.sampler import SampledTokenizer, sample_tokenizer

_TORCH_NAMES = {
    "HyperNetwork": "toktool.zett.model",
    "HypernetConfig": "toktool.zett.model",
    "HypernetEmbedder": "toktool.zett.model",
    "CheckpointError": "toktool.zett.model",
    "load_hypernet": "toktool.zett.model",
    "save_hypernet": "toktool.zett.model",
    "ReconConfig": "toktool.zett.reconstruct",
    "token_decompositions": "toktool.zett.reconstruct",
    "train_reconstruction": "toktool.zett.reconstruct",
    "FrozenLM": "toktool.zett.train",
    "TrainConfig": "toktool.zett.train",
    "train": "toktool.zett.train",
    "ContinuationCounts": "toktool.zett.continuation",
    "AlignConfig": "toktool.zett.align",
    "train_alignment": "toktool.zett.align",
    "MergeOutputConfig": "toktool.zett.merge_output",
    "train_merge_output": "toktool.zett.merge_output",
    "convert_model": "toktool.zett.transfer",
    "new_embeddings": "toktool.zett.transfer",
}


def __getattr__(name: str) -> Any:
    """The PyTorch parts load on first use, so ``toktool.zett`` imports without torch."""
    module = _TORCH_NAMES.get(name)
    if module is None:
        raise AttributeError(f"module 'toktool.zett' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = [
    "Decomposition",
    "SampledTokenizer",
    "decompose",
    "decompose_vocab",
    "sample_tokenizer",
    *sorted(_TORCH_NAMES),
]
