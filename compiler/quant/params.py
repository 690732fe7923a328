"""What TFLite's ``Prepare`` computes for its int8 kernels, from scales and zero points.

Each function mirrors the arithmetic TFLite (and TFLite Micro, whose CMSIS-NN
wrappers pass the same numbers on) uses, including where it computes in
float32 rather than float64, because one ulp there can move a multiplier by
one and a result by one LSB.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

import numpy as np

from tinyc.quant.arith import (
    quantize_multiplier,
    quantize_multiplier_greater_than_one,
    quantize_multiplier_smaller_than_one_exp,
    quantize_multipliers,
)

INT8_MIN = -128
INT8_MAX = 127


class Padding(enum.Enum):
    """TFLite's padding schemes (schema values: SAME = 0, VALID = 1)."""

    SAME = "same"
    VALID = "valid"


class FusedActivation(enum.Enum):
    """TFLite's fused activation functions that clamp the quantized output."""

    NONE = "none"
    RELU = "relu"
    RELU_N1_TO_1 = "relu_n1_to_1"
    RELU6 = "relu6"


def compute_out_size(padding: Padding, in_size: int, filter_size: int, stride: int, dilation: int = 1) -> int:
    """TFLite's ``ComputeOutSize``: SAME gives ceil(in / stride), VALID ceil((in - eff + 1) / stride)."""
    eff = (filter_size - 1) * dilation + 1
    if padding is Padding.SAME:
        return (in_size + stride - 1) // stride
    return (in_size - eff + stride) // stride


def compute_padding(stride: int, dilation: int, in_size: int, filter_size: int, out_size: int) -> tuple[int, int]:
    """TFLite's ``ComputePaddingWithOffset``: (before, after) padding; the odd pixel goes after."""
    eff = (filter_size - 1) * dilation + 1
    total = max((out_size - 1) * stride + eff - in_size, 0)
    return total // 2, total // 2 + total % 2


def activation_range(
    act: FusedActivation, scale: float, zero_point: int, qmin: int = INT8_MIN, qmax: int = INT8_MAX
) -> tuple[int, int]:
    """TFLite's ``CalculateActivationRangeQuantized``: the clamp bounds of a fused activation.

    The real bounds are quantized as ``zero_point + round(f / scale)``, with the
    division done in float32 and C's round (half away from zero).
    """

    def quantize(f: float) -> int:
        q = float(np.float32(f) / np.float32(scale))
        return int(zero_point) + int(math.copysign(math.floor(abs(q) + 0.5), q))

    if act is FusedActivation.NONE:
        return qmin, qmax
    if act is FusedActivation.RELU:
        return max(qmin, quantize(0.0)), qmax
    if act is FusedActivation.RELU6:
        return max(qmin, quantize(0.0)), min(qmax, quantize(6.0))
    if act is FusedActivation.RELU_N1_TO_1:
        return max(qmin, quantize(-1.0)), min(qmax, quantize(1.0))
    raise ValueError(f"unknown fused activation {act!r}")


# --------------------------------------------------------------------------
# Conv / depthwise / fully connected
# --------------------------------------------------------------------------


def conv_multipliers(input_scale: float, filter_scales: np.ndarray | list[float] | float, output_scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel (multiplier, shift) as TFLite's ``PopulateConvolutionQuantizationParams``.

    ``input_scale * filter_scale[c] / output_scale`` in float64 from the float32
    scales. A single filter scale (per-tensor) gives one-element arrays; callers
    broadcast it.
    """
    s_in = float(np.float32(input_scale))
    s_out = float(np.float32(output_scale))
    f = np.asarray(filter_scales, dtype=np.float32).reshape(-1).astype(np.float64)
    return quantize_multipliers(s_in * f / s_out)


def fc_multiplier(input_scale: float, filter_scale: float, output_scale: float) -> tuple[int, int]:
    """Per-tensor fully-connected (multiplier, shift) as TFLite's ``GetQuantizedConvolutionMultipler``.

    Unlike the per-channel path, the product ``input_scale * filter_scale`` is
    taken in float32 before the float64 division by ``output_scale``.
    """
    product = float(np.float32(input_scale) * np.float32(filter_scale))
    return quantize_multiplier(product / float(np.float32(output_scale)))


# --------------------------------------------------------------------------
# Elementwise add / mul
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class AddParams:
    """Parameters of TFLite's int8 add (and CMSIS-NN ``arm_elementwise_add_s8``)."""

    input1_offset: int
    input1_multiplier: int
    input1_shift: int
    input2_offset: int
    input2_multiplier: int
    input2_shift: int
    left_shift: int
    output_offset: int
    output_multiplier: int
    output_shift: int
    act_min: int = INT8_MIN
    act_max: int = INT8_MAX


def prepare_add(
    input1_scale: float,
    input1_zp: int,
    input2_scale: float,
    input2_zp: int,
    output_scale: float,
    output_zp: int,
    act_min: int = INT8_MIN,
    act_max: int = INT8_MAX,
    left_shift: int = 20,
) -> AddParams:
    """TFLite's int8 add preparation: inputs rescaled to ``2 * max(s1, s2)`` after a left shift of 20."""
    s1 = np.float32(input1_scale)
    s2 = np.float32(input2_scale)
    so = np.float32(output_scale)
    twice_max = float(np.float32(2) * max(s1, s2))
    m1, sh1 = quantize_multiplier_smaller_than_one_exp(float(s1) / twice_max)
    m2, sh2 = quantize_multiplier_smaller_than_one_exp(float(s2) / twice_max)
    out_real = twice_max / float(np.float32(1 << left_shift) * so)
    mo, sho = quantize_multiplier_smaller_than_one_exp(out_real)
    return AddParams(
        input1_offset=-int(input1_zp),
        input1_multiplier=m1,
        input1_shift=sh1,
        input2_offset=-int(input2_zp),
        input2_multiplier=m2,
        input2_shift=sh2,
        left_shift=left_shift,
        output_offset=int(output_zp),
        output_multiplier=mo,
        output_shift=sho,
        act_min=act_min,
        act_max=act_max,
    )


@dataclass(frozen=True)
class MulParams:
    """Parameters of TFLite's int8 mul (and CMSIS-NN ``arm_elementwise_mul_s8``)."""

    input1_offset: int
    input2_offset: int
    output_offset: int
    output_multiplier: int
    output_shift: int
    act_min: int = INT8_MIN
    act_max: int = INT8_MAX


def prepare_mul(
    input1_scale: float,
    input1_zp: int,
    input2_scale: float,
    input2_zp: int,
    output_scale: float,
    output_zp: int,
    act_min: int = INT8_MIN,
    act_max: int = INT8_MAX,
) -> MulParams:
    """TFLite's int8 mul preparation: one multiplier for ``s1 * s2 / s_out`` (float64)."""
    real = float(np.float32(input1_scale)) * float(np.float32(input2_scale)) / float(np.float32(output_scale))
    m, sh = quantize_multiplier(real)
    return MulParams(-int(input1_zp), -int(input2_zp), int(output_zp), m, sh, act_min, act_max)


# --------------------------------------------------------------------------
# Softmax
# --------------------------------------------------------------------------

SOFTMAX_SCALED_DIFF_INTEGER_BITS = 5
SOFTMAX_ACCUMULATION_INTEGER_BITS = 12


@dataclass(frozen=True)
class SoftmaxParams:
    """Parameters of TFLite's int8 softmax (and CMSIS-NN ``arm_softmax_s8``).

    The int8 output is fixed at scale 1/256, zero point -128.
    """

    input_multiplier: int
    input_left_shift: int
    diff_min: int


def prepare_softmax(beta: float, input_scale: float) -> SoftmaxParams:
    """TFLite's ``PreprocessSoftmaxScaling`` and ``CalculateInputRadius`` for 5 integer bits."""
    bits = SOFTMAX_SCALED_DIFF_INTEGER_BITS
    max_real = float((1 << 31) - 1)
    real = min(float(np.float32(beta)) * float(np.float32(input_scale)) * float(1 << (31 - bits)), max_real)
    mult, left_shift = quantize_multiplier_greater_than_one(real)
    radius = ((1 << bits) - 1) * float(1 << (31 - bits)) / float(1 << left_shift)
    return SoftmaxParams(mult, left_shift, -int(math.floor(radius)))


# --------------------------------------------------------------------------
# Logistic / tanh (TFLite Micro's int8 reference kernels)
# --------------------------------------------------------------------------

LOGISTIC_TANH_INPUT_INTEGER_BITS = 4


@dataclass(frozen=True)
class LogisticTanhParams:
    """Parameters of TFLite Micro's int8 logistic and tanh reference kernels.

    Logistic output: scale 1/256, zero point -128. Tanh output: scale 1/128, zero point 0.
    """

    input_zero_point: int
    input_range_radius: int
    input_multiplier: int
    input_left_shift: int


def prepare_logistic_tanh(input_scale: float, input_zp: int) -> LogisticTanhParams:
    """TFLM's int8 logistic / tanh preparation: the input rescaled into Q4.27.

    ``input_scale * 2**27`` is split by ``frexp`` (no overflow fix-up, as TFLM)
    and the inputs whose magnitude saturates the result get a radius.
    """
    bits = LOGISTIC_TANH_INPUT_INTEGER_BITS
    real = float(np.float32(input_scale)) * float(1 << (31 - bits))
    q, left_shift = math.frexp(real)
    mult = int(math.floor(q * float(1 << 31) + 0.5))
    if mult >= 1 << 31:
        raise ValueError(f"input scale {input_scale!r} gives a multiplier TFLite cannot represent")
    radius = ((1 << bits) - 1) * float(1 << (31 - bits)) / float(2.0**left_shift)
    return LogisticTanhParams(int(input_zp), int(math.floor(radius)), mult, int(left_shift))
