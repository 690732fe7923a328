"""Random kernel calls with their expected outputs from tinyc.quant.kernels (fixed seeds).

Each generator yields ``(op, ints, arrays, expected)`` in the argument layout
``harness.c`` documents per op.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from tinyc.quant import arith, kernels, params

Case = tuple[str, list[int], list[np.ndarray], np.ndarray]


def _i8(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.integers(-128, 128, size=shape).astype(np.int8)


def _weights(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.integers(-127, 128, size=shape).astype(np.int8)


def _multipliers(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    reals = np.exp(rng.uniform(np.log(1e-4), np.log(1.9), size=n))
    return arith.quantize_multipliers(reals)


def _act(rng: np.random.Generator) -> tuple[int, int]:
    lo = int(rng.choice([-128, -128, int(rng.integers(-128, 0))]))
    hi = int(rng.choice([127, 127, int(rng.integers(0, 128))]))
    return lo, hi


def _out_size(in_size: int, k: int, stride: int, dil: int, pad: int) -> int:
    return (in_size + 2 * pad - ((k - 1) * dil + 1)) // stride + 1


def conv_cases(seed: int, count: int) -> Iterator[Case]:
    rng = np.random.default_rng(seed)
    made = 0
    while made < count:
        n = int(rng.integers(1, 3))
        h, w = (int(v) for v in rng.integers(1, 10, size=2))
        groups = int(rng.choice([1, 1, 1, 2, 3]))
        kc = int(rng.choice([1, 2, 3, 4, 5, 8, 16]))
        c_in = kc * groups
        c_out = groups * int(rng.integers(1, 6))
        kh, kw = (int(v) for v in rng.integers(1, 5, size=2))
        sh, sw = (int(v) for v in rng.integers(1, 4, size=2))
        dh, dw = (int(v) for v in rng.choice([1, 1, 2], size=2))
        up_h, up_w = (int(v) for v in rng.choice([1, 1, 2], size=2))
        use_wrapper = int(up_h == 1 and up_w == 1 and rng.random() < 0.5)
        ph, pw = int(rng.integers(0, kh)), int(rng.integers(0, kw))
        hu, wu = h * up_h, w * up_w
        oh, ow = _out_size(hu, kh, sh, dh, ph), _out_size(wu, kw, sw, dw, pw)
        if oh < 1 or ow < 1:
            continue
        # extra bottom/right padding or cropping: any output size TFLite could ask for
        oh = max(1, oh + int(rng.integers(-1, 2)))
        ow = max(1, ow + int(rng.integers(-1, 2)))
        x = _i8(rng, (n, h, w, c_in))
        wt = _weights(rng, (c_out, kh, kw, kc))
        has_bias = int(rng.random() < 0.8)
        bias = rng.integers(-(2**16), 2**16, size=c_out).astype(np.int32)
        mult, shift = _multipliers(rng, c_out)
        in_off, out_off = int(rng.integers(-127, 129)), int(rng.integers(-128, 128))
        lo, hi = _act(rng)
        xu = np.repeat(np.repeat(x, up_h, axis=1), up_w, axis=2)
        want = kernels.conv2d(
            xu,
            wt,
            bias if has_bias else None,
            input_offset=in_off,
            output_offset=out_off,
            multiplier=mult,
            shift=shift,
            stride=(sh, sw),
            padding=(ph, pw),
            dilation=(dh, dw),
            act_min=lo,
            act_max=hi,
            output_hw=(oh, ow),
        )
        ints = [n, hu, wu, c_in, c_out, kh, kw, kc, sh, sw, ph, pw, dh, dw, in_off, out_off, lo, hi, oh, ow, has_bias, use_wrapper, up_h, up_w]
        yield "conv", ints, [x, wt, bias, mult, shift], want
        made += 1


def dwconv_cases(seed: int, count: int) -> Iterator[Case]:
    rng = np.random.default_rng(seed)
    made = 0
    while made < count:
        n = int(rng.integers(1, 3))
        h, w = (int(v) for v in rng.integers(1, 10, size=2))
        c_in = int(rng.choice([1, 2, 3, 4, 5, 7, 8, 12, 16]))
        ch_mult = int(rng.choice([1, 1, 1, 2, 3]))
        c_out = c_in * ch_mult
        kh, kw = (int(v) for v in rng.integers(1, 6, size=2))
        sh, sw = (int(v) for v in rng.integers(1, 4, size=2))
        dh, dw = (int(v) for v in rng.choice([1, 1, 2], size=2))
        ph, pw = int(rng.integers(0, kh)), int(rng.integers(0, kw))
        oh, ow = _out_size(h, kh, sh, dh, ph), _out_size(w, kw, sw, dw, pw)
        if oh < 1 or ow < 1:
            continue
        oh = max(1, oh + int(rng.integers(-1, 2)))
        ow = max(1, ow + int(rng.integers(-1, 2)))
        x = _i8(rng, (n, h, w, c_in))
        wt = _weights(rng, (1, kh, kw, c_out))
        has_bias = int(rng.random() < 0.8)
        bias = rng.integers(-(2**16), 2**16, size=c_out).astype(np.int32)
        mult, shift = _multipliers(rng, c_out)
        in_off, out_off = int(rng.integers(-127, 129)), int(rng.integers(-128, 128))
        lo, hi = _act(rng)
        want = kernels.depthwise_conv2d(
            x,
            wt,
            bias if has_bias else None,
            input_offset=in_off,
            output_offset=out_off,
            multiplier=mult,
            shift=shift,
            depth_multiplier=ch_mult,
            stride=(sh, sw),
            padding=(ph, pw),
            dilation=(dh, dw),
            act_min=lo,
            act_max=hi,
            output_hw=(oh, ow),
        )
        ints = [n, h, w, c_in, ch_mult, kh, kw, sh, sw, ph, pw, dh, dw, in_off, out_off, lo, hi, oh, ow, has_bias]
        yield "dwconv", ints, [x, wt, bias, mult, shift], want
        made += 1


def fc_cases(seed: int, count: int) -> Iterator[Case]:
    rng = np.random.default_rng(seed)
    for _ in range(count):
        batches = int(rng.integers(1, 4))
        depth = int(rng.choice([1, 3, 4, 7, 16, 33, 64, 130]))
        c_out = int(rng.integers(1, 20))
        per_channel = int(rng.random() < 0.4)
        has_bias = int(rng.random() < 0.8)
        filt_off = int(rng.integers(-20, 21)) if rng.random() < 0.2 else 0
        x = _i8(rng, (batches, depth))
        wt = _weights(rng, (c_out, depth))
        bias = rng.integers(-(2**16), 2**16, size=c_out).astype(np.int32)
        mult, shift = _multipliers(rng, c_out if per_channel else 1)
        in_off, out_off = int(rng.integers(-127, 129)), int(rng.integers(-128, 128))
        lo, hi = _act(rng)
        want = kernels.fully_connected(
            x,
            wt,
            bias if has_bias else None,
            input_offset=in_off,
            filter_offset=filt_off,
            output_offset=out_off,
            multiplier=mult if per_channel else int(mult[0]),
            shift=shift if per_channel else int(shift[0]),
            act_min=lo,
            act_max=hi,
        )
        ints = [batches, depth, c_out, in_off, filt_off, out_off, lo, hi, per_channel, has_bias]
        yield "fc", ints, [x, wt, bias, mult, shift], want


def pool_cases(seed: int, count: int) -> Iterator[Case]:
    rng = np.random.default_rng(seed)
    made = 0
    while made < count:
        kind = "avgpool" if made % 2 == 0 else "maxpool"
        n = int(rng.integers(1, 3))
        h, w = (int(v) for v in rng.integers(1, 12, size=2))
        c = int(rng.integers(1, 9))
        fh, fw = (int(v) for v in rng.integers(1, 5, size=2))
        sh, sw = (int(v) for v in rng.integers(1, 4, size=2))
        ph, pw = int(rng.integers(0, fh)), int(rng.integers(0, fw))
        oh, ow = _out_size(h, fh, sh, 1, ph), _out_size(w, fw, sw, 1, pw)
        if oh < 1 or ow < 1:
            continue
        x = _i8(rng, (n, h, w, c))
        lo, hi = _act(rng)
        fn = kernels.avg_pool2d if kind == "avgpool" else kernels.max_pool2d
        want = fn(x, filter_hw=(fh, fw), stride=(sh, sw), padding=(ph, pw), act_min=lo, act_max=hi, output_hw=(oh, ow))
        yield kind, [n, h, w, c, fh, fw, sh, sw, ph, pw, oh, ow, lo, hi], [x], want
        made += 1


def softmax_cases(seed: int, count: int) -> Iterator[Case]:
    rng = np.random.default_rng(seed)
    for i in range(count):
        rows = int(rng.integers(1, 5))
        row_size = int(rng.choice([1, 2, 5, 10, 12, 64, 100, 600 if i % 7 == 0 else 30]))
        scale = float(np.exp(rng.uniform(np.log(0.002), np.log(2.0))))
        beta = float(rng.choice([1.0, 1.0, 0.5, 2.0]))
        p = params.prepare_softmax(beta, scale)
        x = _i8(rng, (rows, row_size))
        want = kernels.softmax(x, p)
        yield "softmax", [rows, row_size, p.input_multiplier, p.input_left_shift, p.diff_min], [x], want


def _binary_scales(rng: np.random.Generator) -> tuple[float, int, float, int, float, int]:
    s1, s2 = (float(v) for v in np.exp(rng.uniform(np.log(0.002), np.log(0.5), size=2)))
    z1, z2, zo = (int(v) for v in rng.integers(-128, 128, size=3))
    so = float(np.exp(rng.uniform(np.log(0.002), np.log(1.0))))
    return s1, z1, s2, z2, so, zo


def eltwise_cases(seed: int, count: int) -> Iterator[Case]:
    rng = np.random.default_rng(seed)
    for i in range(count):
        size = int(rng.integers(1, 200))
        a, b = _i8(rng, (size,)), _i8(rng, (size,))
        s1, z1, s2, z2, so, zo = _binary_scales(rng)
        lo, hi = _act(rng)
        if i % 2 == 0:
            p = params.prepare_add(s1, z1, s2, z2, so, zo, lo, hi)
            ints = [
                p.input1_offset,
                p.input1_multiplier,
                p.input1_shift,
                p.input2_offset,
                p.input2_multiplier,
                p.input2_shift,
                p.left_shift,
                p.output_offset,
                p.output_multiplier,
                p.output_shift,
                lo,
                hi,
                size,
            ]
            yield "add", ints, [a, b], kernels.add(a, b, p)
        else:
            so = float(s1 * s2 * np.exp(rng.uniform(np.log(5), np.log(200))))
            q = params.prepare_mul(s1, z1, s2, z2, so, zo, lo, hi)
            ints = [q.input1_offset, q.input2_offset, q.output_offset, q.output_multiplier, q.output_shift, lo, hi, size]
            yield "mul", ints, [a, b], kernels.mul(a, b, q)


def activation_cases(seed: int, count: int) -> Iterator[Case]:
    rng = np.random.default_rng(seed)
    for i in range(count):
        x = _i8(rng, (int(rng.integers(1, 300)),))
        if i % 2 == 0:
            yield "relu6", [x.size], [x], np.clip(x, 0, 6).astype(np.int8)
        else:
            yield "relu", [x.size], [x], np.maximum(x, 0).astype(np.int8)


def vector_sum_cases(seed: int, count: int) -> Iterator[Case]:
    rng = np.random.default_rng(seed)
    for _ in range(count):
        cols, rows = int(rng.integers(1, 70)), int(rng.integers(1, 20))
        data = _weights(rng, (rows, cols))
        lhs, rhs = int(rng.integers(-128, 129)), int(rng.integers(-10, 11))
        has_bias = int(rng.random() < 0.5)
        bias = rng.integers(-(2**20), 2**20, size=rows).astype(np.int32)
        want = lhs * (data.astype(np.int64).sum(axis=1) + cols * rhs) + (bias if has_bias else 0)
        yield "vector_sum", [cols, rows, lhs, rhs, has_bias], [data, bias], want.astype(np.int32)


def requantize_cases(seed: int, count: int) -> Iterator[Case]:
    rng = np.random.default_rng(seed)
    vals = rng.integers(-(2**31), 2**31, size=count, dtype=np.int64)
    vals[:6] = [-(2**31), 2**31 - 1, 0, -1, 1, -(2**30)]
    mults = rng.integers(0, 2**31, size=count, dtype=np.int64)
    mults[:3] = [2**31 - 1, 2**30, 0]
    shifts = rng.integers(-31, 31, size=count, dtype=np.int64)
    want = arith.multiply_by_quantized_multiplier(vals, mults, shifts)
    arrays = [vals.astype(np.int32), mults.astype(np.int32), shifts.astype(np.int32)]
    yield "requantize", [count], arrays, want.astype(np.int32)


ALL_GENERATORS = {
    "conv": conv_cases,
    "dwconv": dwconv_cases,
    "fc": fc_cases,
    "pool": pool_cases,
    "softmax": softmax_cases,
    "eltwise": eltwise_cases,
    "activation": activation_cases,
    "vector_sum": vector_sum_cases,
    "requantize": requantize_cases,
}
