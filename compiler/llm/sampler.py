"""The token sampler: greedy, temperature, top-p (nucleus); seeded and reproducible.

The random numbers come from xorshift64* (the state is the seed; seed 0 is
replaced by a fixed constant, since an all-zero state never changes), so a
seed gives the same stream on the host and on a device. Semantics, shared with
the generated C:

- temperature 0: the first index of the largest logit;
- otherwise the logits are divided by the temperature, soft-maxed, and one
  uniform ``coin`` in [0, 1) is drawn; with top-p outside (0, 1) the token is
  the first whose cumulative probability exceeds the coin; with top-p, the
  candidates with probability >= (1 - topp) / (vocab - 1) are sorted by
  probability (descending, then by id), truncated after the cumulative
  probability first exceeds top-p, and the coin scaled by their sum picks one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MASK64 = (1 << 64) - 1
ZERO_SEED_STATE = 0x9E3779B97F4A7C15


def seed_state(seed: int) -> int:
    s = seed & MASK64
    return s if s else ZERO_SEED_STATE


@dataclass
class Sampler:
    temperature: float = 0.0
    topp: float = 0.9
    seed: int = 42

    def __post_init__(self) -> None:
        self.state = seed_state(self.seed)

    def random_u32(self) -> int:
        s = self.state
        s ^= s >> 12
        s ^= (s << 25) & MASK64
        s ^= s >> 27
        self.state = s
        return ((s * 0x2545F4914F6CDD1D) & MASK64) >> 32

    def random_f32(self) -> np.float32:
        return np.float32(self.random_u32() >> 8) / np.float32(16777216.0)

    def sample(self, logits: np.ndarray) -> int:
        logits = np.asarray(logits, dtype=np.float32)
        if self.temperature == 0.0:
            return int(np.argmax(logits))
        x = logits / np.float32(self.temperature)
        probs = softmax(x)
        coin = self.random_f32()
        if self.topp <= 0 or self.topp >= 1:
            return _sample_cdf(probs, coin)
        return _sample_topp(probs, np.float32(self.topp), coin)


def softmax(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    e = np.exp(x - x.max()).astype(np.float32)
    total = np.float32(0.0)
    for v in e:  # sequential float32 sum, like the C
        total = np.float32(total + v)
    return (e / total).astype(np.float32)


def _sample_cdf(probs: np.ndarray, coin: np.float32) -> int:
    cdf = np.float32(0.0)
    for i, p in enumerate(probs):
        cdf = np.float32(cdf + p)
        if coin < cdf:
            return i
    return len(probs) - 1


def _sample_topp(probs: np.ndarray, topp: np.float32, coin: np.float32) -> int:
    n = len(probs)
    if n < 2:
        return 0
    cutoff = (np.float32(1.0) - topp) / np.float32(n - 1)
    cand = [i for i in range(n) if probs[i] >= cutoff]
    if not cand:  # only when top-p < 1 / vocab and the distribution is flat
        return int(np.argmax(probs))
    cand.sort(key=lambda i: (-float(probs[i]), i))
    cum = np.float32(0.0)
    last = len(cand) - 1
    for k, i in enumerate(cand):
        cum = np.float32(cum + probs[i])
        if cum > topp:
            last = k
            break
    r = np.float32(coin * cum)
    cdf = np.float32(0.0)
    for k in range(last + 1):
        cdf = np.float32(cdf + probs[cand[k]])
        if r < cdf:
            return cand[k]
    return cand[last]
