"""CLIP tokenizer folders written by the project: GPT-2/CLIP's byte-level alphabet, the tiny
vocabulary of the test models, and the four files ``CLIPTokenizer.from_pretrained`` reads.

Shared by :mod:`.tiny` (random test models) and :mod:`.caption_tokenizer` (the vocabulary
trained on the procedural captions), which therefore do not import each other's modules
both ways.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

_MERGES = [("t", "h"), ("th", "e</w>"), ("i", "n"), ("a", "n"), ("o", "f</w>"), ("v", "i")]
BOS, EOS = "<|startoftext|>", "<|endoftext|>"


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's reversible byte -> printable character table."""
    bs = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), 256)]
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs), strict=True))


def tiny_vocab() -> tuple[dict[str, int], list[str]]:
    """A complete byte-level CLIP vocabulary (every byte, alone and word-final) and merges."""
    chars = list(bytes_to_unicode().values())
    vocab: dict[str, int] = {}
    for token in chars + [c + "</w>" for c in chars] + [a + b for a, b in _MERGES]:
        vocab.setdefault(token, len(vocab))
    vocab[BOS] = len(vocab)
    vocab[EOS] = len(vocab)
    return vocab, [f"{a} {b}" for a, b in _MERGES]


def write_tiny_tokenizer(folder: str | os.PathLike[str]) -> Path:
    """Write the tiny vocabulary as a CLIP tokenizer folder."""
    return write_tokenizer_files(folder, *tiny_vocab())


def write_tokenizer_files(
    folder: str | os.PathLike[str], vocab: dict[str, int], merges: list[str]
) -> Path:
    """Write vocab.json, merges.txt, tokenizer_config.json, special_tokens_map.json."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", "utf-8")
    special = {"bos_token": BOS, "eos_token": EOS, "unk_token": EOS, "pad_token": EOS}
    config = {"tokenizer_class": "CLIPTokenizer", "model_max_length": 77, **special}
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2), "utf-8")
    (folder / "special_tokens_map.json").write_text(json.dumps(special, indent=2), "utf-8")
    return folder
