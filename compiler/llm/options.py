"""Options of the decoder lowering, shared by the NumPy reference and the C backend."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from tinyc.errors import TinycError


class NumFormat(enum.Enum):
    """How weights or the KV cache are stored."""

    F32 = "float32"
    INT8 = "int8"


@dataclass(frozen=True)
class LlmOptions:
    """How to lower a decoder.

    ``group_size``: columns per weight scale (and per activation scale in the
    int8 matmuls); 0 means one group per row. ``kv_group_size``: values per
    scale in an int8 KV cache; 0 means one per head. ``max_prompt_bytes``
    bounds the prompt ``generate`` accepts (its token buffer is static).
    ``weights_region`` / ``kv_region`` / ``activations_region`` force a
    memory region by name instead of the automatic choice.
    """

    weights: NumFormat = NumFormat.F32
    group_size: int = 64
    kv_cache: NumFormat = NumFormat.F32
    kv_group_size: int = 0
    max_prompt_bytes: int = 1024
    weights_region: str | None = None
    kv_region: str | None = None
    activations_region: str | None = None
    sections: bool = True  # put arrays in the target's named linker sections

    @classmethod
    def from_mapping(cls, values: dict[str, Any] | None) -> LlmOptions:
        """Options from a plain dict (CLI / API): enum fields take their string value."""
        if not values:
            return cls()
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(values) - known)
        if unknown:
            raise TinycError(f"unknown LLM option(s) {', '.join(unknown)}", hint=f"known: {', '.join(sorted(known))}")
        out: dict[str, Any] = {}
        for key, value in values.items():
            if key in ("weights", "kv_cache") and not isinstance(value, NumFormat):
                try:
                    value = NumFormat(str(value))
                except ValueError:
                    raise TinycError(f"option {key}={value!r}: expected float32 or int8") from None
            out[key] = value
        return cls(**out)

    def check(self) -> None:
        if self.group_size < 0:
            raise TinycError(f"group_size {self.group_size} must be >= 0 (0: one scale per row)")
        if self.kv_group_size < 0:
            raise TinycError(f"kv_group_size {self.kv_group_size} must be >= 0 (0: one scale per head)")
        if self.max_prompt_bytes < 1:
            raise TinycError(f"max_prompt_bytes {self.max_prompt_bytes} must be positive")

    def effective_kv_group(self, head_size: int, kv_dim: int) -> int:
        """The KV cache's group size; it must divide the head size or be a multiple of it dividing kv_dim."""
        g = self.kv_group_size or head_size
        ok = (head_size % g == 0) or (g % head_size == 0 and kv_dim % g == 0)
        if not ok:
            raise TinycError(
                f"kv_group_size {g} neither divides the head size {head_size} nor is a multiple of it dividing kv_dim {kv_dim}",
                hint=f"use 0 (one scale per head of {head_size}) or {kv_dim} (one per position)",
            )
        return g
