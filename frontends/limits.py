"""Size limits every frontend applies to untrusted models before allocating anything.

A model file declares shapes; a crafted one can declare a tensor of petabytes
(an input of 2^60 elements, a ConstantOfShape folded at import, a Tile with a
huge repeat count). tinyc targets microcontrollers and edge accelerators, so a
tensor beyond these limits is refused with a clear error instead of running the
host out of memory.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from tinyc.errors import ShapeError

MAX_TENSOR_BYTES = 1 << 31  # one tensor: 2 GiB
MAX_FOLDED_BYTES = 1 << 28  # a constant computed at import time (shape subgraphs, masks): 256 MiB


def tensor_bytes(shape: Sequence[int], itemsize: int) -> int:
    return math.prod(int(d) for d in shape) * int(itemsize)


def check_tensor_size(shape: Sequence[int], itemsize: int, what: str, *, where: str | None = None, limit: int = MAX_TENSOR_BYTES) -> None:
    """Refuse a tensor whose declared shape needs more than ``limit`` bytes."""
    size = tensor_bytes(shape, itemsize)
    if size > limit:
        raise ShapeError(
            f"{what} has shape {list(shape)} ({size:,} bytes), over tinyc's limit of {limit:,} bytes",
            where=where,
            hint="the model declares an implausible size (corrupt or crafted file?); fix the shapes or re-export it",
        )
