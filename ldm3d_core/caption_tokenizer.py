"""A small CLIP tokenizer trained on a caption corpus (the embedded model's vocabulary).

CLIP's own BPE vocabulary has 49,408 tokens: at a tiny text encoder's width its embedding
table alone would outweigh the rest of the model. This trains a byte-pair encoding on the
captions the model will see (with Hugging Face ``tokenizers``) and writes it in CLIP's
format — ``vocab.json`` + ``merges.txt``, word-final symbols marked ``</w>``, every byte
of GPT-2's reversible byte table present alone and word-final — so ``CLIPTokenizer`` loads
it unchanged and any prompt still tokenizes (unknown words fall apart into letters).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from .tokenizer_files import BOS, EOS, bytes_to_unicode, write_tokenizer_files


def train_caption_tokenizer(
    captions: Iterable[str], folder: str | os.PathLike[str], merges: int = 400
) -> Path:
    """Learn up to ``merges`` BPE merges from ``captions``; write a CLIP tokenizer folder."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    alphabet = list(bytes_to_unicode().values())
    tok = Tokenizer(models.BPE(end_of_word_suffix="</w>"))
    # CLIP lower-cases and splits letters runs, digits one by one and punctuation apart.
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Whitespace(), pre_tokenizers.Digits(individual_digits=True)]
    )
    trainer = trainers.BpeTrainer(
        vocab_size=2 * len(alphabet) + merges,
        min_frequency=2,
        initial_alphabet=alphabet,
        end_of_word_suffix="</w>",
        show_progress=False,
    )
    tok.train_from_iterator((c.strip() for c in captions), trainer)
    with tempfile.TemporaryDirectory() as tmp:
        tok.model.save(tmp)
        learned = json.loads(Path(tmp, "vocab.json").read_text(encoding="utf-8"))
        lines = Path(tmp, "merges.txt").read_text(encoding="utf-8").splitlines()
    pairs = [tuple(line.split(" ")) for line in lines if line and not line.startswith("#")]
    # Every byte alone and word-final first (as CLIP's vocabulary starts), then the merges.
    vocab: dict[str, int] = {}
    for token in alphabet + [c + "</w>" for c in alphabet]:
        vocab.setdefault(token, len(vocab))
    for token in sorted(learned, key=learned.__getitem__):
        vocab.setdefault(token, len(vocab))
    for a, b in pairs:
        vocab.setdefault(a + b, len(vocab))
    vocab[BOS] = len(vocab)
    vocab[EOS] = len(vocab)
    return write_tokenizer_files(folder, vocab, [f"{a} {b}" for a, b in pairs])
