"""Decoder-only transformers (Llama-style): model description, NumPy reference, C decode loop."""

from __future__ import annotations

from tinyc.llm.model import DecoderConfig, DecoderModel, LayerWeights
from tinyc.llm.options import LlmOptions, NumFormat
from tinyc.llm.quant import GroupQuantized, quantize_groups

__all__ = [
    "DecoderConfig",
    "DecoderModel",
    "GroupQuantized",
    "LayerWeights",
    "LlmOptions",
    "NumFormat",
    "compile_llm",
    "quantize_groups",
    "run_llm",
]


def __getattr__(name: str):  # type: ignore[no-untyped-def]
    if name in ("run_llm", "compile_llm"):
        from tinyc.llm import runner

        return getattr(runner, name)
    raise AttributeError(name)
