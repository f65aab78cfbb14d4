"""Zero-shot tokenizer transfer (ZeTT; Minixhofer, Ponti and Vulić, NeurIPS 2024) in PyTorch.

A hypernetwork predicts input and output embeddings for the tokens of a new vocabulary from
their decomposition into the model's original tokens, so a model can swap tokenizers without
retraining. The parts:

- ``toktool.zett.decompose``: a whole vocabulary into original ids, in the Rust core;
- ``toktool.zett.sampler``: the training-time tokenizer sampler (noised substring frequencies of
  the current batch, UnigramLM segmentation), in the Rust core;
- ``toktool.zett.model``: the hypernetwork (``torch.nn.Module``), safetensors checkpoints;
- ``toktool.zett.train``: the training loop (single process or ``torchrun`` DDP);
- ``toktool.zett.transfer``: writing a converted Hugging Face model directory.
"""
