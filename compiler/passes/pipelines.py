"""Pass pipelines as plain lists, one function per use, readable top to bottom."""

from __future__ import annotations

from tinyc.passes.canonicalize import canonicalize
from tinyc.passes.cleanup import cse, dce
from tinyc.passes.fold import fold_constants_pass, fold_dequantize_weights
from tinyc.passes.fusions import fuse
from tinyc.passes.layout import to_nhwc
from tinyc.passes.manager import Pass


def default_pipeline() -> list[Pass]:
    """Target-independent clean-up run before analysis and by every backend.

    Quantize / dequantize nodes on constants survive it: the quantizer reads them.
    """
    return [
        fold_constants_pass(),
        canonicalize,
        fold_constants_pass(),
        cse,
        dce,
    ]


def mcu_pipeline() -> list[Pass]:
    """Float graphs for CMSIS-NN-style targets: clean up, NHWC kernel ops, fused biases and clamps."""
    return [
        *default_pipeline(),
        fold_dequantize_weights,  # float kernels take float weights
        canonicalize,  # weights are constant now: Gemm/MatMul -> FullyConnected, BatchNorm folds
        to_nhwc,
        canonicalize,
        fold_constants_pass(),
        fuse,
        cse,
        dce,
    ]
