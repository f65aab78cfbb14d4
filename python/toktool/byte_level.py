"""GPT-2's reversible map between bytes and printable characters (the Python twin of the core's
``byte_level.rs``), used where Python writes or reads byte-level ``tokenizer.json`` files."""

from __future__ import annotations

__all__ = ["bytes_to_unicode"]


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte -> printable character table used by byte-level BPE.

    Printable Latin-1 bytes map to themselves; the remaining 68 bytes map to
    U+0100.. in byte order.
    """
    keep = [*range(0x21, 0x7F), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    table = {b: chr(b) for b in keep}
    extra = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(0x100 + extra)
            extra += 1
    return table
