"""The BPE tokenizer of llama2.c models (SentencePiece vocabulary with scores).

Encoding: BOS, a dummy-prefix space token when the text is not empty, one
token per UTF-8 code point (or per byte through the ``<0xXX>`` tokens when the
code point is not in the vocabulary), then repeatedly merge the adjacent pair
whose concatenation is a token with the highest score (the leftmost on ties).
Decoding: the piece's text, without its leading space right after BOS, raw
byte tokens turned into that byte. This module is the reference the generated
C is checked against.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

UNK, BOS, EOS = 0, 1, 2
HEX = b"0123456789abcdefABCDEF"


@dataclass(frozen=True)
class Tokenizer:
    vocab: tuple[bytes, ...]
    scores: np.ndarray  # float32 [vocab]
    max_token_length: int
    _index: dict[bytes, int] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        index: dict[bytes, int] = {}
        for i in range(len(self.vocab)):
            index.setdefault(self.c_string(i), i)  # the smallest id wins among duplicates
        object.__setattr__(self, "_index", index)

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def c_string(self, i: int) -> bytes:
        """The piece as the C sees it (it stops at a NUL byte)."""
        return self.vocab[i].split(b"\0", 1)[0]

    def lookup(self, piece: bytes) -> int:
        return self._index.get(piece, -1)

    def byte_token(self, b: int) -> int:
        """The id of ``<0xXX>`` for a raw byte (``<unk>`` when the vocabulary has none)."""
        i = self.lookup(b"<0x%02X>" % b)
        return i if i >= 0 else UNK

    def sorted_ids(self) -> list[int]:
        """Token ids ordered by their bytes (then id): the C binary-searches this."""
        return sorted(range(self.vocab_size), key=lambda i: (self.c_string(i), i))

    def encode(self, text: str | bytes, bos: bool = True, eos: bool = False) -> list[int]:
        data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
        data = data.split(b"\0", 1)[0]
        tokens: list[int] = [BOS] if bos else []
        if data:
            space = self.lookup(b" ")
            tokens.append(space if space >= 0 else self.byte_token(0x20))
        i = 0
        while i < len(data):
            j = i + 1
            while j < len(data) and (data[j] & 0xC0) == 0x80 and j - i < 4:
                j += 1
            cp = data[i:j]
            tid = self.lookup(cp)
            if tid >= 0:
                tokens.append(tid)
            else:
                tokens.extend(self.byte_token(b) for b in cp)
            i = j
        while True:  # like llama2.c, BOS takes part in the pair search (it never merges in practice)
            best_score = -np.inf
            best_id, best_at = -1, -1
            for k in range(len(tokens) - 1):
                tid = self.lookup(self.c_string(tokens[k]) + self.c_string(tokens[k + 1]))
                if tid >= 0 and self.scores[tid] > best_score:
                    best_score, best_id, best_at = self.scores[tid], tid, k
            if best_at < 0:
                break
            tokens[best_at : best_at + 2] = [best_id]
        if eos:
            tokens.append(EOS)
        return tokens

    def decode_piece(self, prev: int, token: int) -> bytes:
        piece = self.c_string(token)
        if prev == BOS and piece.startswith(b" "):
            piece = piece[1:]
        if len(piece) == 6 and piece.startswith(b"<0x") and piece.endswith(b">") and all(c in HEX for c in piece[3:5]):
            return bytes([int(piece[3:5], 16)])
        return piece

    def decode(self, ids: list[int], first_prev: int = BOS) -> bytes:
        out = []
        prev = first_prev
        for t in ids:
            out.append(printable(self.decode_piece(prev, t)))
            prev = t
        return b"".join(out)


def printable(piece: bytes) -> bytes:
    """What a streaming printer shows: a lone non-printable, non-space byte is dropped (as llama2.c does)."""
    if len(piece) == 1 and not (0x20 <= piece[0] <= 0x7E or piece[0] in b"\t\n\v\f\r"):
        return b""
    return piece


def synthetic_tokenizer(vocab_size: int, seed: int = 0) -> Tokenizer:
    """A llama2.c-style vocabulary for random-weight models: specials, 256 byte tokens, then
    single characters and frequent-looking merges of lower-case letters, spaces and punctuation."""
    if vocab_size < 259:
        raise ValueError("a byte-fallback vocabulary needs at least 259 tokens")
    rng = np.random.default_rng(seed)
    vocab: list[bytes] = [b"<unk>", b"\n<s>\n", b"\n</s>\n"] + [b"<0x%02X>" % b for b in range(256)]
    seen = set(vocab)
    alphabet = [bytes([c]) for c in b" abcdefghijklmnopqrstuvwxyz.,!?'\"\nABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"]
    merged: list[bytes] = []
    for a in alphabet:
        if len(vocab) + len(merged) < vocab_size and a not in seen:
            merged.append(a)
            seen.add(a)
    pool = list(alphabet)
    while len(vocab) + len(merged) < vocab_size:
        piece = pool[rng.integers(len(pool))] + pool[rng.integers(len(pool))]
        if len(piece) <= 16 and piece not in seen:
            merged.append(piece)
            seen.add(piece)
            pool.append(piece)
    scores = np.zeros(vocab_size, dtype=np.float32)
    scores[259:] = -np.arange(len(merged), dtype=np.float32)
    return Tokenizer(tuple(vocab + merged), scores, max(len(p) for p in vocab + merged))
