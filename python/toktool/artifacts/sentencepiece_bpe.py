"""SentencePiece BPE models (Mistral 7B's ``tokenizer.model.v1``) as ``tokenizer.json``.

The protobuf is read directly and rebuilt the way transformers 4.x's
``LlamaConverter`` did, with ``legacy=False`` or ``legacy=True``
(:func:`convert_sentencepiece` says how and why).
"""

from __future__ import annotations

import pathlib
from collections.abc import Callable
from typing import Any

from toktool.artifacts.cache import require
from toktool.artifacts.hf_json import added_token, bos_template, bpe_model, dump_json, tokenizer_doc

__all__ = ["convert_sentencepiece"]


def convert_sentencepiece(legacy: bool) -> Callable[[pathlib.Path], bytes]:
    """Convert a SentencePiece BPE model the way transformers' LlamaConverter does.

    transformers 5.x cannot do this itself any more (``LlamaConverter`` crashes
    in ``SentencePieceExtractor.extract`` and ``LlamaTokenizer.from_pretrained``
    ignores ``legacy``), so the protobuf (via ``sentencepiece``'s bundled
    ``sentencepiece_model_pb2``, which needs ``protobuf``) is read here and the
    output of transformers 4.x ``LlamaTokenizerFast(from_slow=True)`` rebuilt:

    * vocab = pieces by id; merges = every split of a normal piece into two
      normal pieces, ordered by the merged piece's score (highest first) —
      SentencePiece merges the adjacent pair whose concatenation has the
      best score; BPE with ``byte_fallback``, ``fuse_unk``, unk ``<unk>``;
    * ``legacy=False``: no normalizer, pre-tokenizer
      ``Metaspace(prepend_scheme="first", split=false)``;
    * ``legacy=True``: normalizer Sequence[Prepend("▁"), Replace(" ", "▁")],
      no pre-tokenizer;
    * decoder Sequence[Replace("▁", " "), ByteFallback, Fuse, Strip(" ", 1, 0)];
      post-processor adds ``<s>``.

    (transformers 5.24's own ``LlamaTokenizer.from_pretrained`` conversion
    orders merges by piece id instead of score, which moves the "▁▁" and
    "▁▁▁▁" merges (score -1e9) to the front and disagrees with SentencePiece
    on indented code; the score order here agrees with SentencePiece.)

    The two differ where Metaspace skips the dummy prefix: on text that
    starts with a space (SentencePiece itself, like ``legacy``, always adds
    "▁"), and after special tokens inside the text.
    """

    def convert(src: pathlib.Path) -> bytes:
        require("google.protobuf", "protobuf")
        pb2 = require("sentencepiece.sentencepiece_model_pb2", "sentencepiece")
        proto = pb2.ModelProto()
        proto.ParseFromString(src.read_bytes())
        if proto.trainer_spec.model_type != 2:  # BPE
            raise ValueError(f"{src}: not a SentencePiece BPE model")
        normal, unknown, control, user_defined = 1, 2, 3, 4  # ModelProto.SentencePiece.Type
        pieces = list(proto.pieces)
        vocab = {p.piece: i for i, p in enumerate(pieces)}
        scores = {p.piece: (p.score, i) for i, p in enumerate(pieces) if p.type == normal}
        ranked: list[tuple[float, int, int, int, str, str]] = []
        for piece, (score, pid) in scores.items():
            for i in range(1, len(piece)):
                left, right = piece[:i], piece[i:]
                if left in scores and right in scores:
                    ranked.append((-score, pid, scores[left][1], scores[right][1], left, right))
        ranked.sort()
        merges = [(left, right) for *_, left, right in ranked]
        unk = proto.trainer_spec.unk_piece or "<unk>"
        bos = proto.trainer_spec.bos_piece or "<s>"
        added = [
            added_token(p.piece, i, special=p.type in (unknown, control))
            for i, p in enumerate(pieces)
            if p.type in (unknown, control, user_defined)
        ]
        if legacy:
            normalizer: Any = {
                "type": "Sequence",
                "normalizers": [
                    {"type": "Prepend", "prepend": "▁"},
                    {"type": "Replace", "pattern": {"String": " "}, "content": "▁"},
                ],
            }
            pre_tokenizer: Any = None
        else:
            normalizer = None
            pre_tokenizer = {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": False}
        doc = tokenizer_doc(
            added_tokens=added,
            normalizer=normalizer,
            pre_tokenizer=pre_tokenizer,
            post_processor=bos_template(bos, vocab[bos]),
            decoder={
                "type": "Sequence",
                "decoders": [
                    {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
                    {"type": "ByteFallback"},
                    {"type": "Fuse"},
                    {"type": "Strip", "content": " ", "start": 1, "stop": 0},
                ],
            },
            model=bpe_model(
                vocab, merges, unk_token=unk, fuse_unk=True, byte_fallback=proto.trainer_spec.byte_fallback
            ),
        )
        return dump_json(doc)

    return convert
