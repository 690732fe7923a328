"""How far an int8 build strays from the float one: greedy token agreement and per-position logit error.

Both builds are the generated C compiled for the host. Greedy agreement
compares each build's ids with reference ids (llama2.c's, for stories260K);
logit errors are measured with teacher forcing along the reference ids, so
every position sees the same context in both builds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class PromptAccuracy:
    prompt: str
    matches: int  # positions whose id equals the reference's
    first_mismatch: int  # index of the first differing id (len(ref) when none)
    total: int
    max_abs_err: list[float] = field(default_factory=list)  # per position: max |logit_int8 - logit_float|
    rel_err: list[float] = field(default_factory=list)  # per position: ||d|| / ||float||
    argmax_agree: float = 0.0  # fraction of teacher-forced positions with the same argmax

    def summary(self) -> str:
        e = np.asarray(self.max_abs_err)
        return (
            f"{self.prompt!r}: {self.matches}/{self.total} ids match, identical up to position {self.first_mismatch}; "
            f"max|dlogit| mean {e.mean():.3f}, max {e.max():.3f}; argmax agrees at {100 * self.argmax_agree:.1f}% of positions"
        )


def compare_builds(float_prog: Any, int8_prog: Any, reference: dict[str, list[int]]) -> list[PromptAccuracy]:
    """Greedy ids of ``int8_prog`` against ``reference``, and its teacher-forced logits against ``float_prog``'s."""
    out = []
    for prompt, ref in reference.items():
        ids = [int(x) for x in int8_prog.generate(prompt, len(ref), ids=True).split()]
        first = next((i for i, (a, b) in enumerate(zip(ids, ref)) if a != b), min(len(ids), len(ref)))
        matches = sum(a == b for a, b in zip(ids, ref))
        lf = float_prog.logits(ref)
        lq = int8_prog.logits(ref)
        d = lq - lf
        acc = PromptAccuracy(prompt, matches, first, len(ref))
        acc.max_abs_err = [float(x) for x in np.abs(d).max(axis=1)]
        acc.rel_err = [float(x) for x in np.linalg.norm(d, axis=1) / np.maximum(np.linalg.norm(lf, axis=1), 1e-30)]
        acc.argmax_agree = float(np.mean(lq.argmax(axis=1) == lf.argmax(axis=1)))
        out.append(acc)
    return out
