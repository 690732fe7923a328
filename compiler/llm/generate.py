"""The generation loop of llama2.c's ``run.c``, on the NumPy reference decoder.

Position 0 takes BOS; while the prompt lasts, the next token is the prompt's
next token, afterwards the sampler's choice; one token is emitted per
position 0..steps-1 (``steps`` <= 0 or over the context length means the
context length), stopping early when the model produces BOS. The emitted ids
are the format of ``stories260K_greedy_ids.txt``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tinyc.llm.reference import Decoder
from tinyc.llm.sampler import Sampler
from tinyc.llm.tokenizer import BOS, Tokenizer, printable


@dataclass
class Generation:
    ids: list[int] = field(default_factory=list)  # emitted tokens (prompt after BOS, then generated)
    text: bytes = b""
    logits: list[np.ndarray] = field(default_factory=list)  # one per position when asked


def generate(
    decoder: Decoder,
    tokenizer: Tokenizer,
    prompt: str,
    steps: int,
    sampler: Sampler | None = None,
    *,
    keep_logits: bool = False,
    forced: list[int] | None = None,
) -> Generation:
    """Run the decode loop; ``forced`` replaces the sampled ids (teacher forcing, to compare logits)."""
    sampler = sampler or Sampler(0.0)
    prompt_ids = tokenizer.encode(prompt, bos=True)
    if steps <= 0 or steps > decoder.config.seq_len:
        steps = decoder.config.seq_len
    decoder.reset()
    out = Generation()
    token = prompt_ids[0]
    pieces = []
    for pos in range(steps):
        logits = decoder.forward(token, pos)
        if keep_logits:
            out.logits.append(logits)
        if pos + 1 < len(prompt_ids):
            nxt = prompt_ids[pos + 1]
        elif forced is not None and pos < len(forced):
            nxt = forced[pos]
        else:
            nxt = sampler.sample(logits)
        if nxt == BOS:
            break
        out.ids.append(nxt)
        pieces.append(printable(tokenizer.decode_piece(token, nxt)))
        token = nxt
    out.text = b"".join(pieces)
    return out
