"""Bit-exact checks of :mod:`tinyc.quant.kernels_extra` on one-operator TFLite models.

HardSwish, MEAN, integer QUANTIZE, RELU/RELU6/RELU_N1_TO_1 with rescaling, and
the 16x8 kernels (int16 activations, int8 weights, int64 bias) are run on
TensorFlow Lite Micro and on LiteRT's reference kernels and compared with the
NumPy kernels fed with parameters from the ``prepare_*`` helpers.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("ai_edge_litert")
pytest.importorskip("tflite_micro")

import tflite_models  # noqa: E402
from tflite_models import Tensor, build_model, options, run_litert  # noqa: E402

from tinyc.quant import kernels as K  # noqa: E402
from tinyc.quant import kernels_extra as KE  # noqa: E402
from tinyc.quant import params as P  # noqa: E402

# The shared model builder knows int8/int32/float32; 16x8 models also need these.
tflite_models.TFLITE_TYPES.setdefault(np.dtype(np.int16), 7)
tflite_models.TFLITE_TYPES.setdefault(np.dtype(np.int64), 4)

I16 = (-32768, 32767)
ALL_INT8 = np.arange(-128, 128, dtype=np.int8).reshape(2, 128)


def run_tflm(model: bytes, inputs: list[np.ndarray]) -> np.ndarray:
    from tflite_micro import runtime

    interp = runtime.Interpreter.from_bytes(model, arena_size=1 << 20)
    for i, x in enumerate(inputs):
        interp.set_input(x, i)
    interp.invoke()
    return interp.get_output(0)


def assert_both(got: np.ndarray, model: bytes, inputs: list[np.ndarray], what: str) -> None:
    for name, run in (("TFLM", run_tflm), ("LiteRT", run_litert)):
        want = run(model, inputs)
        assert got.dtype == want.dtype and got.shape == want.shape, f"{what} vs {name}: {got.dtype}{got.shape} vs {want.dtype}{want.shape}"
        bad = int((got != want).sum())
        assert bad == 0, f"{what} vs {name}: {bad} of {want.size} differ"


@pytest.mark.parametrize("s_in,zp_in,s_out,zp_out", [(0.05, 0, 0.03, -100), (0.1, 10, 0.05, -50), (0.02, -30, 0.01, -128), (0.5, 0, 0.2, -20), (0.003, 5, 0.002, -100)])
def test_hard_swish(s_in: float, zp_in: int, s_out: float, zp_out: int) -> None:
    model = build_model("HARD_SWISH", 1, [Tensor((2, 128), scale=(s_in,), zero_point=(zp_in,))], Tensor((2, 128), scale=(s_out,), zero_point=(zp_out,)), None, 0)
    got = KE.hard_swish(ALL_INT8, KE.prepare_hard_swish(s_in, zp_in, s_out, zp_out))
    assert_both(got, model, [ALL_INT8], "HARD_SWISH")


@pytest.mark.parametrize(
    "shape,s_in,zp_in,s_out,zp_out",
    [((2, 7, 3, 8), 0.1, -10, 0.1, -10), ((1, 25, 5, 64), 0.02, -128, 0.01, -128), ((1, 25, 5, 16), 0.02, -128, 0.02, -128), ((3, 4, 4, 5), 0.02, 7, 0.05, 3)],
)
def test_mean_over_hw(shape: tuple[int, ...], s_in: float, zp_in: int, s_out: float, zp_out: int) -> None:
    axes = np.array([1, 2], dtype=np.int32)
    model = build_model(
        "MEAN",
        2,
        [Tensor(shape, scale=(s_in,), zero_point=(zp_in,)), Tensor((2,), np.int32, data=axes)],
        Tensor((shape[0], 1, 1, shape[3]), scale=(s_out,), zero_point=(zp_out,)),
        *options("ReducerOptions", keepDims=True),
    )
    x = np.random.default_rng(sum(shape)).integers(-128, 128, size=shape).astype(np.int8)
    mult, shift = KE.prepare_mean(s_in, s_out, shape[1] * shape[2])
    got = KE.mean(x, (1, 2), multiplier=mult, shift=shift, input_zp=zp_in, output_zp=zp_out)
    assert_both(got, model, [x], "MEAN")


@pytest.mark.parametrize("s_in,zp_in,s_out,zp_out", [(0.05, 0, 0.03, -128), (0.1, 10, 0.05, 7), (0.02, -3, 0.1, 4)])
def test_requantize(s_in: float, zp_in: int, s_out: float, zp_out: int) -> None:
    model = build_model("QUANTIZE", 1, [Tensor((2, 128), scale=(s_in,), zero_point=(zp_in,))], Tensor((2, 128), scale=(s_out,), zero_point=(zp_out,)), None, 0)
    mult, shift = KE.requantize_multiplier(s_in, s_out)
    got = KE.requantize(ALL_INT8, mult, shift, zp_in, zp_out, -128, 127).astype(np.int8)
    assert_both(got, model, [ALL_INT8], "QUANTIZE")


RELUS = {"RELU": P.FusedActivation.RELU, "RELU6": P.FusedActivation.RELU6}  # TFLM has no RELU_N1_TO_1 kernel


@pytest.mark.parametrize("op", list(RELUS))
@pytest.mark.parametrize("s_in,zp_in,s_out,zp_out", [(0.05, 0, 0.03, -128), (0.1, 10, 0.05, -128), (0.1, 10, 0.1, 10)])
def test_relu_family(op: str, s_in: float, zp_in: int, s_out: float, zp_out: int) -> None:
    if op != "RELU" and (s_in, zp_in) != (s_out, zp_out):
        pytest.skip("TFLM's RELU6 does not rescale: equal parameters only")
    model = build_model(op, 1, [Tensor((2, 128), scale=(s_in,), zero_point=(zp_in,))], Tensor((2, 128), scale=(s_out,), zero_point=(zp_out,)), None, 0)
    mult, shift = KE.requantize_multiplier(s_in, s_out)
    lo, hi = P.activation_range(RELUS[op], s_out, zp_out)
    got = KE.relu(ALL_INT8, mult, shift, zp_in, zp_out, lo, hi).astype(np.int8)
    assert_both(got, model, [ALL_INT8], op)


def test_fully_connected_per_channel_int8() -> None:
    rng = np.random.default_rng(3)
    w = rng.integers(-127, 128, size=(6, 20)).astype(np.int8)
    ws = rng.uniform(0.002, 0.03, size=6)
    s_in, zp_in, s_out, zp_out = 0.05, 3, 0.2, -7
    bias = rng.integers(-5000, 5000, size=6).astype(np.int32)
    x = rng.integers(-128, 128, size=(2, 20)).astype(np.int8)
    model = build_model(
        "FULLY_CONNECTED",
        5,
        [
            Tensor((2, 20), scale=(s_in,), zero_point=(zp_in,)),
            Tensor(w.shape, scale=tuple(ws), zero_point=(0,) * 6, quantized_dimension=0, data=w),
            Tensor((6,), np.int32, scale=tuple(s_in * ws), zero_point=(0,) * 6, data=bias),
        ],
        Tensor((2, 6), scale=(s_out,), zero_point=(zp_out,)),
        *options("FullyConnectedOptions", fusedActivationFunction=0),
    )
    mult, shift = P.conv_multipliers(s_in, ws, s_out)
    got = K.fully_connected(x, w, bias, input_offset=-zp_in, output_offset=zp_out, multiplier=mult, shift=shift)
    assert_both(got, model, [x], "per-channel FULLY_CONNECTED")


# --------------------------------------------------------------------------
# 16x8
# --------------------------------------------------------------------------

RNG16 = np.random.default_rng(16)
X16 = RNG16.integers(-32768, 32768, size=(1, 6, 5, 3)).astype(np.int16)


@pytest.mark.parametrize("act", [P.FusedActivation.NONE, P.FusedActivation.RELU, P.FusedActivation.RELU6])
def test_conv2d_s16(act: P.FusedActivation) -> None:
    rng = np.random.default_rng(17)
    co, kh, kw = 4, 3, 3
    s_in, s_out = 0.001, 0.002
    ws = rng.uniform(0.005, 0.02, size=co)
    w = rng.integers(-127, 128, size=(co, kh, kw, 3)).astype(np.int8)
    b = rng.integers(-200000, 200000, size=co).astype(np.int64)
    codes = {P.FusedActivation.NONE: 0, P.FusedActivation.RELU: 1, P.FusedActivation.RELU6: 3}
    opts = options("Conv2DOptions", padding=0, strideH=1, strideW=1, dilationHFactor=1, dilationWFactor=1, fusedActivationFunction=codes[act])
    model = build_model(
        "CONV_2D",
        4,
        [
            Tensor(X16.shape, np.int16, scale=(s_in,), zero_point=(0,)),
            Tensor(w.shape, scale=tuple(ws), zero_point=(0,) * co, data=w),
            Tensor((co,), np.int64, scale=tuple(s_in * ws), zero_point=(0,) * co, data=b),
        ],
        Tensor((1, 6, 5, co), np.int16, scale=(s_out,), zero_point=(0,)),
        *opts,
    )
    mult, shift = P.conv_multipliers(s_in, ws, s_out)
    lo, hi = P.activation_range(act, s_out, 0, *I16)
    got = KE.conv2d_s16(X16, w, b, multiplier=mult, shift=shift, padding=(1, 1), act_min=lo, act_max=hi, output_hw=(6, 5))
    assert_both(got, model, [X16], "CONV_2D 16x8")


def test_depthwise_conv2d_s16() -> None:
    rng = np.random.default_rng(18)
    c = 6
    w = rng.integers(-127, 128, size=(1, 3, 3, c)).astype(np.int8)
    ws = rng.uniform(0.005, 0.02, size=c)
    b = rng.integers(-200000, 200000, size=c).astype(np.int64)
    s_in, s_out = 0.001, 0.002
    opts = options("DepthwiseConv2DOptions", padding=0, strideH=2, strideW=1, depthMultiplier=2, dilationHFactor=1, dilationWFactor=1, fusedActivationFunction=0)
    model = build_model(
        "DEPTHWISE_CONV_2D",
        5,
        [
            Tensor(X16.shape, np.int16, scale=(s_in,), zero_point=(0,)),
            Tensor(w.shape, scale=tuple(ws), zero_point=(0,) * c, quantized_dimension=3, data=w),
            Tensor((c,), np.int64, scale=tuple(s_in * ws), zero_point=(0,) * c, data=b),
        ],
        Tensor((1, 3, 5, c), np.int16, scale=(s_out,), zero_point=(0,)),
        *opts,
    )
    mult, shift = P.conv_multipliers(s_in, ws, s_out)
    top = P.compute_padding(2, 1, 6, 3, 3)[0]
    got = KE.depthwise_conv2d_s16(X16, w, b, multiplier=mult, shift=shift, depth_multiplier=2, stride=(2, 1), padding=(top, 1), output_hw=(3, 5))
    assert_both(got, model, [X16], "DEPTHWISE_CONV_2D 16x8")


def test_fully_connected_s16() -> None:
    rng = np.random.default_rng(19)
    w = rng.integers(-127, 128, size=(7, 20)).astype(np.int8)
    b = rng.integers(-200000, 200000, size=7).astype(np.int64)
    x = rng.integers(-32768, 32768, size=(2, 20)).astype(np.int16)
    s_in, s_w, s_out = 0.001, 0.01, 0.003
    model = build_model(
        "FULLY_CONNECTED",
        5,
        [
            Tensor((2, 20), np.int16, scale=(s_in,), zero_point=(0,)),
            Tensor(w.shape, scale=(s_w,), zero_point=(0,), data=w),
            Tensor((7,), np.int64, scale=(s_in * s_w,), zero_point=(0,), data=b),
        ],
        Tensor((2, 7), np.int16, scale=(s_out,), zero_point=(0,)),
        *options("FullyConnectedOptions", fusedActivationFunction=0),
    )
    mult, shift = P.fc_multiplier(s_in, s_w, s_out)
    assert_both(KE.fully_connected_s16(x, w, b, multiplier=mult, shift=shift), model, [x], "FULLY_CONNECTED 16x8")


@pytest.mark.parametrize("kind", ["ADD", "MUL"])
def test_add_mul_s16(kind: str) -> None:
    rng = np.random.default_rng(20)
    a = rng.integers(-32768, 32768, size=(2, 30)).astype(np.int16)
    b = rng.integers(-32768, 32768, size=(1, 30)).astype(np.int16)
    s1, s2 = 0.001, 0.0007
    so = 0.0015 if kind == "ADD" else s1 * s2 * 20000
    opt = options("AddOptions" if kind == "ADD" else "MulOptions", fusedActivationFunction=0)
    if kind == "ADD":
        opt[0].potScaleInt16 = False  # the general int16 scheme, as the converter writes for 16x8
    model = build_model(
        kind,
        3 if kind == "ADD" else 2,
        [Tensor(a.shape, np.int16, scale=(s1,), zero_point=(0,)), Tensor(b.shape, np.int16, scale=(s2,), zero_point=(0,))],
        Tensor((2, 30), np.int16, scale=(so,), zero_point=(0,)),
        *opt,
    )
    if kind == "ADD":
        got = KE.add_s16(a, b, P.prepare_add(s1, 0, s2, 0, so, 0, *I16, left_shift=15))
    else:
        got = KE.mul_s16(a, b, P.prepare_mul(s1, 0, s2, 0, so, 0, *I16))
    assert_both(got, model, [a, b], f"{kind} int16")


@pytest.mark.parametrize("kind", ["AVERAGE_POOL_2D", "MAX_POOL_2D"])
def test_pools_s16(kind: str) -> None:
    opts = options("Pool2DOptions", padding=0, strideH=2, strideW=2, filterHeight=3, filterWidth=2, fusedActivationFunction=0)
    model = build_model(kind, 3, [Tensor(X16.shape, np.int16, scale=(0.001,), zero_point=(0,))], Tensor((1, 3, 3, 3), np.int16, scale=(0.001,), zero_point=(0,)), *opts)
    pad = (P.compute_padding(2, 1, 6, 3, 3)[0], P.compute_padding(2, 1, 5, 2, 3)[0])
    fn = KE.avg_pool2d_s16 if kind == "AVERAGE_POOL_2D" else KE.max_pool2d_s16
    got = fn(X16, filter_hw=(3, 2), stride=(2, 2), padding=pad, act_min=I16[0], act_max=I16[1], output_hw=(3, 3))
    assert_both(got, model, [X16], kind + " int16")


def test_mean_s16() -> None:
    model = build_model(
        "MEAN",
        2,
        [Tensor(X16.shape, np.int16, scale=(0.001,), zero_point=(0,)), Tensor((2,), np.int32, data=np.array([1, 2], np.int32))],
        Tensor((1, 1, 1, 3), np.int16, scale=(0.0007,), zero_point=(0,)),
        *options("ReducerOptions", keepDims=True),
    )
    mult, shift = KE.prepare_mean(0.001, 0.0007, 30)
    got = KE.mean(X16, (1, 2), multiplier=mult, shift=shift, input_zp=0, output_zp=0, qmin=I16[0], qmax=I16[1])
    assert_both(got, model, [X16], "MEAN int16")
