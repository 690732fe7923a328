"""Bit-exact checks of tinyc.quant kernels and parameter preparation on one-operator TFLite models.

Each case writes a small int8 model, runs it on TensorFlow Lite Micro (the
semantics CMSIS-NN reproduces) and on LiteRT's reference kernels, and compares
with our kernel fed with parameters computed by :mod:`tinyc.quant.params` from
the same scales and zero points. Skips when the interpreters are not installed.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("ai_edge_litert")
pytest.importorskip("tflite_micro")

from tflite_models import Tensor, build_model, options, run_litert, run_tflm  # noqa: E402

from tinyc.quant import kernels as K  # noqa: E402
from tinyc.quant import params as P  # noqa: E402

ACT_CODES = {P.FusedActivation.NONE: 0, P.FusedActivation.RELU: 1, P.FusedActivation.RELU_N1_TO_1: 2, P.FusedActivation.RELU6: 3}
PAD_CODES = {P.Padding.SAME: 0, P.Padding.VALID: 1}


def _both(model: bytes, inputs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    return run_tflm(model, inputs), run_litert(model, inputs)


def _assert_exact(got: np.ndarray, want: np.ndarray, what: str) -> None:
    assert got.shape == want.shape, what
    diff = np.abs(got.astype(np.int64) - want.astype(np.int64))
    assert int(diff.max(initial=0)) == 0, f"{what}: {int((diff > 0).sum())} of {diff.size} differ, max {int(diff.max())}"


# --------------------------------------------------------------------------
# conv / depthwise
# --------------------------------------------------------------------------

CONV_CASES = [
    # (H, W, C_in, C_out, KH, KW, stride, dilation, padding, activation, groups)
    ((7, 6, 3), 4, (3, 3), (2, 2), (1, 1), P.Padding.SAME, P.FusedActivation.NONE, 1),
    ((9, 9, 5), 6, (3, 3), (1, 1), (2, 2), P.Padding.SAME, P.FusedActivation.RELU, 1),
    ((8, 5, 8), 3, (2, 4), (2, 1), (1, 1), P.Padding.VALID, P.FusedActivation.RELU6, 1),
    ((10, 10, 2), 8, (5, 5), (3, 2), (1, 1), P.Padding.SAME, P.FusedActivation.RELU_N1_TO_1, 1),
    ((6, 6, 16), 16, (1, 1), (1, 1), (1, 1), P.Padding.VALID, P.FusedActivation.RELU, 1),
    ((12, 3, 1), 7, (4, 3), (2, 2), (1, 1), P.Padding.SAME, P.FusedActivation.NONE, 1),
    ((6, 7, 8), 6, (3, 3), (1, 1), (1, 1), P.Padding.SAME, P.FusedActivation.NONE, 2),
]


def _act_range(act: P.FusedActivation, scale: float, zp: int) -> tuple[int, int]:
    return P.activation_range(act, scale, zp)


@pytest.mark.parametrize("case", range(len(CONV_CASES)))
def test_conv2d_matches_tflite(case: int) -> None:
    (h, w, c_in), c_out, (kh, kw), stride, dil, pad, act, groups = CONV_CASES[case]
    rng = np.random.default_rng(100 + case)
    s_in, zp_in = float(rng.uniform(0.01, 0.1)), int(rng.integers(-20, 20))
    s_out, zp_out = float(rng.uniform(0.05, 0.3)), int(rng.integers(-30, 30))
    wscale = rng.uniform(0.002, 0.03, size=c_out)
    ck = c_in // groups
    weights = rng.integers(-127, 128, size=(c_out, kh, kw, ck)).astype(np.int8)
    bias = rng.integers(-3000, 3000, size=c_out).astype(np.int32)
    oh = P.compute_out_size(pad, h, kh, stride[0], dil[0])
    ow = P.compute_out_size(pad, w, kw, stride[1], dil[1])
    model = build_model(
        "CONV_2D",
        3,
        [
            Tensor((1, h, w, c_in), scale=(s_in,), zero_point=(zp_in,)),
            Tensor(weights.shape, scale=tuple(wscale), zero_point=(0,) * c_out, data=weights),
            Tensor((c_out,), np.int32, scale=tuple(s_in * wscale), zero_point=(0,) * c_out, data=bias),
        ],
        Tensor((1, oh, ow, c_out), scale=(s_out,), zero_point=(zp_out,)),
        *options(
            "Conv2DOptions",
            padding=PAD_CODES[pad],
            strideH=stride[0],
            strideW=stride[1],
            dilationHFactor=dil[0],
            dilationWFactor=dil[1],
            fusedActivationFunction=ACT_CODES[act],
        ),
    )
    x = rng.integers(-128, 128, size=(1, h, w, c_in)).astype(np.int8)
    tflm, litert = _both(model, [x])
    mult, shift = P.conv_multipliers(s_in, wscale, s_out)
    lo, hi = _act_range(act, s_out, zp_out)
    got = K.conv2d(
        x,
        weights,
        bias,
        input_offset=-zp_in,
        output_offset=zp_out,
        multiplier=mult,
        shift=shift,
        stride=stride,
        padding=(P.compute_padding(stride[0], dil[0], h, kh, oh)[0], P.compute_padding(stride[1], dil[1], w, kw, ow)[0]),
        dilation=dil,
        act_min=lo,
        act_max=hi,
        output_hw=(oh, ow),
    )
    _assert_exact(got, tflm, "conv vs TFLM")
    _assert_exact(got, litert, "conv vs LiteRT")


DW_CASES = [
    # (H, W, C_in, depth_multiplier, KH, KW, stride, dilation, padding, activation)
    ((7, 7, 4), 1, (3, 3), (1, 1), (1, 1), P.Padding.SAME, P.FusedActivation.RELU),
    ((8, 6, 3), 2, (3, 3), (2, 2), (1, 1), P.Padding.SAME, P.FusedActivation.NONE),
    ((9, 9, 5), 3, (3, 2), (1, 2), (2, 1), P.Padding.VALID, P.FusedActivation.RELU6),
    ((5, 11, 8), 1, (5, 5), (2, 3), (1, 1), P.Padding.SAME, P.FusedActivation.NONE),
    ((6, 6, 2), 4, (1, 1), (1, 1), (1, 1), P.Padding.VALID, P.FusedActivation.RELU_N1_TO_1),
]


@pytest.mark.parametrize("case", range(len(DW_CASES)))
def test_depthwise_conv2d_matches_tflite(case: int) -> None:
    (h, w, c_in), mult_d, (kh, kw), stride, dil, pad, act = DW_CASES[case]
    rng = np.random.default_rng(200 + case)
    c_out = c_in * mult_d
    s_in, zp_in = float(rng.uniform(0.01, 0.1)), int(rng.integers(-20, 20))
    s_out, zp_out = float(rng.uniform(0.02, 0.2)), int(rng.integers(-30, 30))
    wscale = rng.uniform(0.002, 0.03, size=c_out)
    weights = rng.integers(-127, 128, size=(1, kh, kw, c_out)).astype(np.int8)
    bias = rng.integers(-3000, 3000, size=c_out).astype(np.int32)
    oh = P.compute_out_size(pad, h, kh, stride[0], dil[0])
    ow = P.compute_out_size(pad, w, kw, stride[1], dil[1])
    model = build_model(
        "DEPTHWISE_CONV_2D",
        3,
        [
            Tensor((1, h, w, c_in), scale=(s_in,), zero_point=(zp_in,)),
            Tensor(weights.shape, scale=tuple(wscale), zero_point=(0,) * c_out, quantized_dimension=3, data=weights),
            Tensor((c_out,), np.int32, scale=tuple(s_in * wscale), zero_point=(0,) * c_out, data=bias),
        ],
        Tensor((1, oh, ow, c_out), scale=(s_out,), zero_point=(zp_out,)),
        *options(
            "DepthwiseConv2DOptions",
            padding=PAD_CODES[pad],
            strideH=stride[0],
            strideW=stride[1],
            depthMultiplier=mult_d,
            dilationHFactor=dil[0],
            dilationWFactor=dil[1],
            fusedActivationFunction=ACT_CODES[act],
        ),
    )
    x = rng.integers(-128, 128, size=(1, h, w, c_in)).astype(np.int8)
    tflm, litert = _both(model, [x])
    mult, shift = P.conv_multipliers(s_in, wscale, s_out)
    lo, hi = _act_range(act, s_out, zp_out)
    got = K.depthwise_conv2d(
        x,
        weights,
        bias,
        input_offset=-zp_in,
        output_offset=zp_out,
        multiplier=mult,
        shift=shift,
        depth_multiplier=mult_d,
        stride=stride,
        padding=(P.compute_padding(stride[0], dil[0], h, kh, oh)[0], P.compute_padding(stride[1], dil[1], w, kw, ow)[0]),
        dilation=dil,
        act_min=lo,
        act_max=hi,
        output_hw=(oh, ow),
    )
    _assert_exact(got, tflm, "depthwise vs TFLM")
    _assert_exact(got, litert, "depthwise vs LiteRT")


# --------------------------------------------------------------------------
# fully connected
# --------------------------------------------------------------------------


def _single_rounding(acc: np.ndarray, m: int, s: int) -> np.ndarray:
    total = 31 - s
    return (acc * m + (1 << (total - 1))) >> total


@pytest.mark.parametrize("case", range(4))
def test_fully_connected_matches_tflm(case: int) -> None:
    rng = np.random.default_rng(300 + case)
    batches, n, c_out = [(1, 64, 12), (3, 40, 9), (2, 128, 128), (1, 7, 3)][case]
    act = [P.FusedActivation.NONE, P.FusedActivation.RELU, P.FusedActivation.RELU6, P.FusedActivation.NONE][case]
    s_in, zp_in = float(rng.uniform(0.01, 0.5)), int(rng.integers(-100, 100))
    s_w = float(rng.uniform(0.001, 0.05))
    s_out, zp_out = float(rng.uniform(0.05, 0.5)), int(rng.integers(-30, 30))
    weights = rng.integers(-127, 128, size=(c_out, n)).astype(np.int8)
    bias = rng.integers(-5000, 5000, size=c_out).astype(np.int32)
    model = build_model(
        "FULLY_CONNECTED",
        4,
        [
            Tensor((batches, n), scale=(s_in,), zero_point=(zp_in,)),
            Tensor(weights.shape, scale=(s_w,), zero_point=(0,), data=weights),
            Tensor((c_out,), np.int32, scale=(float(np.float32(s_in) * np.float32(s_w)),), zero_point=(0,), data=bias),
        ],
        Tensor((batches, c_out), scale=(s_out,), zero_point=(zp_out,)),
        *options("FullyConnectedOptions", fusedActivationFunction=ACT_CODES[act]),
    )
    x = rng.integers(-128, 128, size=(batches, n)).astype(np.int8)
    tflm, litert = _both(model, [x])
    m, s = P.fc_multiplier(s_in, s_w, s_out)
    lo, hi = _act_range(act, s_out, zp_out)
    got = K.fully_connected(x, weights, bias, input_offset=-zp_in, output_offset=zp_out, multiplier=m, shift=s, act_min=lo, act_max=hi)
    _assert_exact(got, tflm, "fully connected vs TFLM")
    # LiteRT's pip build requantizes its fully-connected int8 output with a
    # single rounding (TFLITE_SINGLE_ROUNDING); everything else, and TFLM and
    # CMSIS-NN, round twice. Check that this is the only difference.
    acc = (x.astype(np.int64) - zp_in) @ weights.astype(np.int64).T + bias
    single = np.clip(_single_rounding(acc, m, s) + zp_out, lo, hi)
    _assert_exact(single.astype(np.int8), litert, "fully connected (single rounding) vs LiteRT")
    assert int(np.abs(got.astype(np.int64) - litert).max()) <= 1


# --------------------------------------------------------------------------
# pooling
# --------------------------------------------------------------------------

POOL_CASES = [
    # (H, W, C, filter, stride, padding, activation)
    ((7, 7, 3), (3, 3), (2, 2), P.Padding.SAME, P.FusedActivation.NONE),
    ((8, 5, 4), (2, 2), (2, 2), P.Padding.VALID, P.FusedActivation.RELU),
    ((9, 6, 2), (4, 3), (3, 1), P.Padding.SAME, P.FusedActivation.RELU6),
    ((25, 5, 8), (25, 5), (25, 5), P.Padding.VALID, P.FusedActivation.NONE),
    ((5, 5, 1), (5, 5), (1, 1), P.Padding.SAME, P.FusedActivation.NONE),
]


@pytest.mark.parametrize("kind", ["AVERAGE_POOL_2D", "MAX_POOL_2D"])
@pytest.mark.parametrize("case", range(len(POOL_CASES)))
def test_pooling_matches_tflite(kind: str, case: int) -> None:
    (h, w, c), (fh, fw), stride, pad, act = POOL_CASES[case]
    rng = np.random.default_rng(400 + case)
    scale, zp = float(rng.uniform(0.02, 0.2)), int(rng.integers(-40, 40))
    oh = P.compute_out_size(pad, h, fh, stride[0])
    ow = P.compute_out_size(pad, w, fw, stride[1])
    model = build_model(
        kind,
        2,
        [Tensor((1, h, w, c), scale=(scale,), zero_point=(zp,))],
        Tensor((1, oh, ow, c), scale=(scale,), zero_point=(zp,)),
        *options(
            "Pool2DOptions",
            padding=PAD_CODES[pad],
            strideH=stride[0],
            strideW=stride[1],
            filterHeight=fh,
            filterWidth=fw,
            fusedActivationFunction=ACT_CODES[act],
        ),
    )
    x = rng.integers(-128, 128, size=(1, h, w, c)).astype(np.int8)
    tflm, litert = _both(model, [x])
    lo, hi = _act_range(act, scale, zp)
    padding = (P.compute_padding(stride[0], 1, h, fh, oh)[0], P.compute_padding(stride[1], 1, w, fw, ow)[0])
    fn = K.avg_pool2d if kind == "AVERAGE_POOL_2D" else K.max_pool2d
    got = fn(x, filter_hw=(fh, fw), stride=stride, padding=padding, act_min=lo, act_max=hi, output_hw=(oh, ow))
    _assert_exact(got, tflm, f"{kind} vs TFLM")
    _assert_exact(got, litert, f"{kind} vs LiteRT")


# --------------------------------------------------------------------------
# add / mul
# --------------------------------------------------------------------------

BINARY_CASES = [
    # (shape1, shape2, activation)
    ((1, 4, 4, 8), (1, 4, 4, 8), P.FusedActivation.NONE),
    ((2, 33), (2, 33), P.FusedActivation.RELU),
    ((1, 3, 5, 6), (1, 1, 1, 6), P.FusedActivation.NONE),
    ((1, 7, 1, 4), (1, 1, 3, 4), P.FusedActivation.RELU6),
    ((64,), (64,), P.FusedActivation.NONE),
    ((1, 2, 2, 3), (1, 2, 2, 3), P.FusedActivation.RELU_N1_TO_1),
]


@pytest.mark.parametrize("kind", ["ADD", "MUL"])
@pytest.mark.parametrize("case", range(len(BINARY_CASES)))
def test_add_mul_match_tflite(kind: str, case: int) -> None:
    shape1, shape2, act = BINARY_CASES[case]
    rng = np.random.default_rng(500 + case + (50 if kind == "MUL" else 0))
    s1, s2 = (float(v) for v in rng.uniform(0.005, 0.3, size=2))
    z1, z2 = (int(v) for v in rng.integers(-60, 60, size=2))
    so = float(rng.uniform(0.01, 0.4)) if kind == "ADD" else float(s1 * s2 * rng.uniform(20, 120))
    zo = int(rng.integers(-30, 30))
    out_shape = np.broadcast_shapes(shape1, shape2)
    opt = options("AddOptions" if kind == "ADD" else "MulOptions", fusedActivationFunction=ACT_CODES[act])
    model = build_model(
        kind,
        2,
        [Tensor(shape1, scale=(s1,), zero_point=(z1,)), Tensor(shape2, scale=(s2,), zero_point=(z2,))],
        Tensor(tuple(out_shape), scale=(so,), zero_point=(zo,)),
        *opt,
    )
    a = rng.integers(-128, 128, size=shape1).astype(np.int8)
    b = rng.integers(-128, 128, size=shape2).astype(np.int8)
    tflm, litert = _both(model, [a, b])
    lo, hi = _act_range(act, so, zo)
    if kind == "ADD":
        got = K.add(a, b, P.prepare_add(s1, z1, s2, z2, so, zo, lo, hi))
    else:
        got = K.mul(a, b, P.prepare_mul(s1, z1, s2, z2, so, zo, lo, hi))
    _assert_exact(got, tflm, f"{kind} vs TFLM")
    _assert_exact(got, litert, f"{kind} vs LiteRT")


# --------------------------------------------------------------------------
# softmax
# --------------------------------------------------------------------------

SOFTMAX_CASES = [
    # (shape, input scale, beta)
    ((1, 12), 0.14469251, 1.0),
    ((4, 10), 0.05, 1.0),
    ((2, 100), 0.5, 1.0),
    ((3, 7), 0.01, 2.0),
    ((1, 1, 3, 16), 0.2, 0.5),
    ((5, 3), 1.5, 1.0),
    ((1, 300), 0.08, 1.0),
]


@pytest.mark.parametrize("case", range(len(SOFTMAX_CASES)))
def test_softmax_matches_tflite(case: int) -> None:
    shape, s_in, beta = SOFTMAX_CASES[case]
    rng = np.random.default_rng(600 + case)
    zp_in = int(rng.integers(-20, 20))
    model = build_model(
        "SOFTMAX",
        2,
        [Tensor(shape, scale=(s_in,), zero_point=(zp_in,))],
        Tensor(shape, scale=(1.0 / 256.0,), zero_point=(-128,)),
        *options("SoftmaxOptions", beta=beta),
    )
    x = rng.integers(-128, 128, size=shape).astype(np.int8)
    x.reshape(-1)[::5] = 127  # ties for the maximum
    tflm, litert = _both(model, [x])
    got = K.softmax(x, P.prepare_softmax(beta, s_in))
    _assert_exact(got, tflm, "softmax vs TFLM")
    _assert_exact(got, litert, "softmax vs LiteRT")


# --------------------------------------------------------------------------
# logistic / tanh
# --------------------------------------------------------------------------

LOGISTIC_TANH_SCALES = [(0.1, 0), (0.05, -20), (0.02, 10), (0.3, 5), (1.0 / 16.0, 0), (0.007, -3), (0.9, 100)]


@pytest.mark.parametrize("kind", ["LOGISTIC", "TANH"])
@pytest.mark.parametrize("case", range(len(LOGISTIC_TANH_SCALES)))
def test_logistic_tanh_match_tflite(kind: str, case: int) -> None:
    s_in, zp_in = LOGISTIC_TANH_SCALES[case]
    shape = (2, 128)
    out = Tensor(shape, scale=(1.0 / 256.0,), zero_point=(-128,)) if kind == "LOGISTIC" else Tensor(shape, scale=(1.0 / 128.0,), zero_point=(0,))
    model = build_model(kind, 2, [Tensor(shape, scale=(s_in,), zero_point=(zp_in,))], out, None, 0)
    x = np.arange(-128, 128, dtype=np.int8).reshape(shape)  # every int8 value
    tflm, litert = _both(model, [x])
    p = P.prepare_logistic_tanh(s_in, zp_in)
    got = (K.logistic if kind == "LOGISTIC" else K.tanh)(x, p)
    _assert_exact(got, tflm, f"{kind} vs TFLM")
    _assert_exact(got, litert, f"{kind} vs LiteRT")


# --------------------------------------------------------------------------
# random sweep of conv / depthwise configurations against TFLM
# --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["CONV_2D", "DEPTHWISE_CONV_2D"])
def test_random_conv_configurations_match_tflm(kind: str) -> None:
    rng = np.random.default_rng(7000 if kind == "CONV_2D" else 7001)
    checked = 0
    while checked < 30:
        h, w = (int(v) for v in rng.integers(1, 12, size=2))
        kh, kw = (int(v) for v in rng.integers(1, 6, size=2))
        stride = tuple(int(v) for v in rng.integers(1, 4, size=2))
        dil = tuple(int(v) for v in rng.choice([1, 1, 2, 3], size=2))
        pad = P.Padding.SAME if rng.random() < 0.6 else P.Padding.VALID
        act = list(P.FusedActivation)[int(rng.integers(0, 4))]
        oh = P.compute_out_size(pad, h, kh, stride[0], dil[0])
        ow = P.compute_out_size(pad, w, kw, stride[1], dil[1])
        if oh < 1 or ow < 1:
            continue
        c_in = int(rng.integers(1, 9))
        mult_d = int(rng.choice([1, 1, 2, 3]))
        c_out = int(rng.integers(1, 9)) if kind == "CONV_2D" else c_in * mult_d
        s_in, zp_in = float(rng.uniform(0.005, 0.2)), int(rng.integers(-128, 128))
        s_out, zp_out = float(rng.uniform(0.01, 0.5)), int(rng.integers(-128, 128))
        wscale = rng.uniform(0.001, 0.05, size=c_out)
        wshape = (c_out, kh, kw, c_in) if kind == "CONV_2D" else (1, kh, kw, c_out)
        weights = rng.integers(-127, 128, size=wshape).astype(np.int8)
        bias = rng.integers(-20000, 20000, size=c_out).astype(np.int32)
        if kind == "CONV_2D":
            opts = options("Conv2DOptions", padding=PAD_CODES[pad], strideH=stride[0], strideW=stride[1], dilationHFactor=dil[0], dilationWFactor=dil[1], fusedActivationFunction=ACT_CODES[act])
        else:
            opts = options(
                "DepthwiseConv2DOptions",
                padding=PAD_CODES[pad],
                strideH=stride[0],
                strideW=stride[1],
                depthMultiplier=mult_d,
                dilationHFactor=dil[0],
                dilationWFactor=dil[1],
                fusedActivationFunction=ACT_CODES[act],
            )
        model = build_model(
            kind,
            3,
            [
                Tensor((1, h, w, c_in), scale=(s_in,), zero_point=(zp_in,)),
                Tensor(wshape, scale=tuple(wscale), zero_point=(0,) * c_out, quantized_dimension=0 if kind == "CONV_2D" else 3, data=weights),
                Tensor((c_out,), np.int32, scale=tuple(s_in * wscale), zero_point=(0,) * c_out, data=bias),
            ],
            Tensor((1, oh, ow, c_out), scale=(s_out,), zero_point=(zp_out,)),
            *opts,
        )
        x = rng.integers(-128, 128, size=(1, h, w, c_in)).astype(np.int8)
        mult, shift = P.conv_multipliers(s_in, wscale, s_out)
        lo, hi = _act_range(act, s_out, zp_out)
        common = dict(
            input_offset=-zp_in,
            output_offset=zp_out,
            multiplier=mult,
            shift=shift,
            stride=stride,
            padding=(P.compute_padding(stride[0], dil[0], h, kh, oh)[0], P.compute_padding(stride[1], dil[1], w, kw, ow)[0]),
            dilation=dil,
            act_min=lo,
            act_max=hi,
            output_hw=(oh, ow),
        )
        if kind == "CONV_2D":
            got = K.conv2d(x, weights, bias, **common)
        else:
            got = K.depthwise_conv2d(x, weights, bias, depth_multiplier=mult_d, **common)
        _assert_exact(got, run_tflm(model, [x]), f"{kind} #{checked} vs TFLM")
        checked += 1
