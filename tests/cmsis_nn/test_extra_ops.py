"""The int8 ops of layers_extra (Concat, Pad, Transpose, Mean, Sigmoid, Tanh, HardSwish, broadcasting Add/Mul,
Split, Slice) as micro-models with random scales, zero points and odd shapes: compiled by the backend, run on the
host under ASan/UBSan and on QEMU's Cortex-M7, bit-exact with tinyc's integer reference interpreter."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cmsis_graphs import Builder
from cmsis_helpers import needs_gcc, needs_qemu, samples

from tinyc.api import Model
from tinyc.backends.cmsis_nn.harness import BuildInfo, build_host, build_qemu, run_harness
from tinyc.backends.cmsis_nn.layers_extra import broadcast_plan, merged_pad, merged_reduce, merged_transpose
from tinyc.driver import CompileOptions, compile_model
from tinyc.interpreter import run_graph
from tinyc.ir.core import Loc, Value
from tinyc.ir.dtypes import DType
from tinyc.ir.opdef import get_op
from tinyc.ir.ops.indexing import PadMode
from tinyc.ir.types import QuantParams, TensorType
from tinyc.targets import load_target

LOGISTIC_Q = QuantParams.per_tensor(1.0 / 256.0, -128)
TANH_Q = QuantParams.per_tensor(1.0 / 128.0, 0)


def _op(b: Builder, op: str, inputs: list[Value], out: TensorType | list[TensorType], name: str, **attrs: Any) -> Any:
    o = get_op(op)
    outs = out if isinstance(out, list) else [out]
    a = o.Attrs(**attrs)
    inferred = o.infer(a, inputs)
    assert [t.shape for t in inferred] == [t.shape for t in outs], (op, inferred, outs)
    node = b.g.add_node(o, inputs, a, name=name, loc=Loc.of(f"model.onnx:{name}"), output_types=outs, output_names=[f"{name}_{i}" for i in range(len(outs))])
    return node.outputs if isinstance(out, list) else node.output


def _inp(b: Builder, name: str, shape: tuple[int, ...]) -> Value:
    return b.float_input(name, shape, scale=float(b.rng.uniform(0.01, 0.2)), zp=int(b.rng.integers(-40, 40)))


# -- micro-models ---------------------------------------------------------------------------------------------


def concat_model(seed: int = 10) -> Builder:
    """Concat along channels (CMSIS-NN x), rows (y), batch (contiguous): inputs with and without the output's parameters."""
    b = Builder("concat", seed)
    x1, x2 = _inp(b, "a", (2, 3, 5, 3)), _inp(b, "b", (2, 3, 5, 7))
    same = _op(b, "Relu", [x1], b.act_type((2, 3, 5, 3), scale=0.11, zp=-3), "relu")  # the output's parameters: a plain copy
    out_t = b.act_type((2, 3, 5, 17), scale=0.11, zp=-3)
    c = _op(b, "Concat", [same, x2, x1], TensorType(DType.I8, (2, 3, 5, 13), out_t.quant), "cat_c", axis=3)
    b.float_output(c, "channels")
    r = _op(b, "Concat", [x1, same, x1], TensorType(DType.I8, (2, 9, 5, 3), x1.type.quant), "cat_h", axis=1)
    b.float_output(r, "rows")
    n = _op(b, "Concat", [x2, x2], b.act_type((4, 3, 5, 7), scale=x2.type.quant.scale[0], zp=x2.type.quant.zero_point[0]), "cat_n", axis=0)
    b.float_output(n, "batch")
    return b


def pad_model(seed: int = 11) -> Builder:
    b = Builder("pad", seed)
    x = _inp(b, "x", (1, 5, 7, 3))
    q = x.type.quant
    p1 = _op(b, "Pad", [x], TensorType(DType.I8, (1, 8, 8, 3), q), "pad_hw", pads=(0, 2, 0, 0, 0, 1, 1, 0), mode=PadMode.CONSTANT, constant_value=0.0)
    b.float_output(p1, "hw")
    p2 = _op(b, "Pad", [x], TensorType(DType.I8, (2, 5, 8, 6), q), "pad_all", pads=(1, 0, 1, 2, 0, 0, 0, 1), mode=PadMode.CONSTANT, constant_value=0.7)
    b.float_output(p2, "all")
    y = _inp(b, "y", (4, 9))
    p3 = _op(b, "Pad", [y], TensorType(DType.I8, (4, 12), y.type.quant), "pad_2d", pads=(0, 1, 0, 2), mode=PadMode.CONSTANT, constant_value=-1.5)
    b.float_output(p3, "two_d")
    return b


def transpose_model(seed: int = 12) -> Builder:
    b = Builder("transpose", seed)
    x = _inp(b, "x", (1, 3, 5, 7))
    q = x.type.quant
    t1 = _op(b, "Transpose", [x], TensorType(DType.I8, (1, 5, 7, 3), q), "to_nhwc", perm=(0, 2, 3, 1))
    b.float_output(t1, "nhwc")
    s = _inp(b, "s", (1, 2, 3, 5, 7))  # a channel shuffle: groups and channels swap, H and W merge
    t2 = _op(b, "Transpose", [s], TensorType(DType.I8, (1, 3, 2, 5, 7), s.type.quant), "shuffle", perm=(0, 2, 1, 3, 4))
    b.float_output(t2, "shuffled")
    t3 = _op(b, "Transpose", [x], TensorType(DType.I8, (7, 1, 3, 5), q), "rot", perm=(3, 0, 1, 2))
    b.float_output(t3, "rotated")
    return b


def mean_model(seed: int = 13) -> Builder:
    b = Builder("mean", seed)
    x = _inp(b, "x", (1, 6, 5, 7))
    m1 = _op(b, "ReduceMean", [x], b.act_type((1, 1, 1, 7)), "gap_nhwc", axes=(1, 2), keepdims=True)
    b.float_output(m1, "nhwc")
    m2 = _op(b, "ReduceMean", [x], b.act_type((1, 6)), "mean_nchw", axes=(2, 3), keepdims=False)
    b.float_output(m2, "nchw")
    m3 = _op(b, "ReduceMean", [x], b.act_type((1, 1, 5, 1)), "mean_gather", axes=(1, 3), keepdims=True)  # not adjacent: gathered in scratch
    b.float_output(m3, "gathered")
    return b


def activations_model(seed: int = 14) -> Builder:
    """Sigmoid, Tanh and HardSwish over inputs of various scales (fed every int8 value by the tests)."""
    b = Builder("acts", seed)
    for i, scale in enumerate((0.004, 0.03, 0.11, 0.9)):
        x = b.float_input(f"x{i}", (1, 256), scale=scale, zp=int(b.rng.integers(-60, 60)))
        b.float_output(_op(b, "Sigmoid", [x], TensorType(DType.I8, (1, 256), LOGISTIC_Q), f"sigmoid{i}"), f"sig{i}")
        b.float_output(_op(b, "Tanh", [x], TensorType(DType.I8, (1, 256), TANH_Q), f"tanh{i}"), f"tanh{i}")
        out = b.act_type((1, 256), scale=float(scale * b.rng.uniform(0.6, 1.6)), zp=int(b.rng.integers(-128, -80)))
        b.float_output(_op(b, "HardSwish", [x], out, f"hswish{i}"), f"hs{i}")
    return b


def lut_model(seed: int = 18) -> Builder:
    """Tensors of more than 256 values: Sigmoid, Tanh and HardSwish become table look-ups (in place where the planner allows)."""
    b = Builder("lut", seed)
    x = _inp(b, "x", (1, 9, 7, 5))
    b.float_output(_op(b, "Sigmoid", [x], TensorType(DType.I8, x.type.shape, LOGISTIC_Q), "sigmoid"), "sig")
    b.float_output(_op(b, "Tanh", [x], TensorType(DType.I8, x.type.shape, TANH_Q), "tanh"), "tanh")
    h = b.conv(x, 6, (1, 1), name="pw")
    b.float_output(_op(b, "HardSwish", [h], b.act_type(h.type.shape), "hswish"), "hs")
    return b


def inplace_model(seed: int = 15) -> Builder:
    """An FC whose output dies in the activation: the planner lets it run in place."""
    b = Builder("inplace", seed)
    x = b.float_input("x", (1, 40))
    h = b.fc(x, 33, name="fc1")
    h = _op(b, "HardSwish", [h], b.act_type((1, 33)), "hswish")
    h = b.fc(h, 21, name="fc2")
    h = _op(b, "Sigmoid", [h], TensorType(DType.I8, (1, 21), LOGISTIC_Q), "sigmoid")
    b.float_output(b.fc(h, 5, name="fc3"), "y")
    return b


def broadcast_model(seed: int = 16) -> Builder:
    b = Builder("bcast", seed)
    x = _inp(b, "x", (1, 5, 7, 6))
    gate = _inp(b, "gate", (1, 1, 1, 6))  # SE-style per-channel scale (NHWC)
    row = _inp(b, "row", (1, 5, 1, 1))
    b.float_output(b.node("Mul", [x, gate], b.act_type((1, 5, 7, 6)), "se_mul"), "se")
    b.float_output(b.node("AddAct", [row, x], b.act_type((1, 5, 7, 6)), "row_add", act_min=0.0, act_max=None), "rows")
    c = b.g.add_const("bias_vec", b.rng.integers(-128, 128, size=(6,)).astype(np.int8), QuantParams.per_tensor(0.05, 4))
    b.float_output(b.node("MulAct", [x, c], b.act_type((1, 5, 7, 6)), "const_mul", act_min=-1.0, act_max=1.0), "cmul")
    b.float_output(b.node("Add", [x, x], b.act_type((1, 5, 7, 6)), "same_add"), "same")  # equal shapes: arm_elementwise_add_s8
    return b


def split_slice_model(seed: int = 17) -> Builder:
    b = Builder("split", seed)
    x = _inp(b, "x", (1, 4, 3, 10))
    q = x.type.quant
    parts = _op(b, "Split", [x], [TensorType(DType.I8, (1, 4, 3, k), q) for k in (3, 7)], "split_c", split=(3, 7), axis=3)
    for i, p in enumerate(parts):
        b.float_output(p, f"part{i}")
    s = _op(b, "Slice", [x], TensorType(DType.I8, (1, 2, 3, 10), q), "slice_h", starts=(1,), ends=(3,), axes=(1,), steps=(1,))
    b.float_output(s, "sliced")
    return b


MODELS: dict[str, Callable[[], Builder]] = {
    "concat": concat_model,
    "pad": pad_model,
    "transpose": transpose_model,
    "mean": mean_model,
    "activations": activations_model,
    "inplace": inplace_model,
    "lut": lut_model,
    "broadcast": broadcast_model,
    "split_slice": split_slice_model,
}
KERNELS = {
    "concat": {"arm_concatenation_s8_x", "arm_concatenation_s8_y", "tinyc_requantize_rows_s8", "memcpy"},
    "pad": {"arm_pad_s8"},
    "transpose": {"arm_transpose_s8"},
    "mean": {"tinyc_mean_s8", "arm_transpose_s8"},
    "activations": {"tinyc_logistic_s8", "tinyc_tanh_s8", "tinyc_hard_swish_s8"},
    "inplace": {"tinyc_logistic_s8", "tinyc_hard_swish_s8"},
    "lut": {"tinyc_lut_s8"},
    "broadcast": {"tinyc_broadcast_mul_s8", "tinyc_broadcast_add_s8", "arm_elementwise_add_s8"},
    "split_slice": {"memcpy"},
}


def _compile(name: str, out: Path) -> tuple[Model, BuildInfo]:
    model = Model(MODELS[name]().g, f"{name}.onnx", name)
    compile_model(model, output_dir=out, options=CompileOptions(target="stm32h7"))
    return model, BuildInfo.read(out)


def _inputs(name: str, info: BuildInfo, n: int) -> list[np.ndarray]:
    if name == "activations":  # every int8 value, forwards and backwards
        ramp = np.arange(-128, 128, dtype=np.int64)
        return [np.stack([ramp[::1], ramp[::-1]]).astype(np.int8).reshape(2, 1, 256) for _ in info.inputs]
    xs, _ = samples(info, n, seed=7)
    xs[0][0] = -128  # the saturation corners
    xs[0][1] = 127
    return xs


def _check(model: Model, info: BuildInfo, res: Any, xs: list[np.ndarray]) -> None:
    g = model.graph
    for k in range(xs[0].shape[0]):
        want = run_graph(g, {v.name: x[k] for v, x in zip(g.inputs, xs)})
        for o, v in enumerate(g.outputs):
            np.testing.assert_array_equal(res.outputs[o][k], want[v.name], err_msg=f"sample {k}, output {v.name}")


def _used_kernels(info: BuildInfo) -> set[str]:
    return {k for layer in info.layers for k in str(layer["kernel"]).split("+") if k}


@needs_gcc
@pytest.mark.parametrize("name", sorted(MODELS))
def test_extra_op_bit_exact_on_host_with_sanitizers(name: str, tmp_path: Path) -> None:
    model, info = _compile(name, tmp_path / name)
    assert KERNELS[name] <= _used_kernels(info), _used_kernels(info)
    exe = build_host(info.dir, tmp_path / "work", sanitize=True, opt="-O1")
    xs = _inputs(name, info, 6)
    res = run_harness(exe, info, tmp_path / "work", xs)
    _check(model, info, res, xs)


def _on_qemu(fn: Callable[..., None]) -> Callable[..., None]:
    for mark in needs_qemu:
        fn = mark(fn)
    return fn


@_on_qemu
@pytest.mark.parametrize("name", sorted(MODELS))
def test_extra_op_bit_exact_on_cortex_m7(name: str, tmp_path: Path) -> None:
    model, info = _compile(name, tmp_path / name)
    elf = build_qemu(info.dir, tmp_path / "m7", load_target("stm32h7"))
    xs = _inputs(name, info, 3)
    res = run_harness(elf, info, tmp_path / "m7", xs, on="qemu")
    _check(model, info, res, xs)


def test_inplace_activations_share_their_input_buffer(tmp_path: Path) -> None:
    _, info = _compile("inplace", tmp_path / "b")
    text = (info.dir / "inplace.c").read_text()
    where = {parts[1]: parts[2] + parts[3] + parts[4] for parts in (line.split() for line in text.splitlines() if line.startswith("#define BUF_"))}
    calls = [line.strip() for line in text.splitlines() if line.strip().startswith(("tinyc_hard_swish_s8(", "tinyc_logistic_s8("))]
    assert len(calls) == 2
    for call in calls:
        args = call.split("(", 1)[1].split(", ")
        assert where[args[0]] == where[args[1]], (call, where)  # input and output are the same planned bytes


def test_lookup_tables_are_flash_constants_in_the_report(tmp_path: Path) -> None:
    _, info = _compile("lut", tmp_path / "b")
    report = json.loads((info.dir / "report.json").read_text())
    tables = report["totals"]["flash_constants_bytes"] - report["totals"]["weights_bytes"]
    assert tables >= 256 * sum("tinyc_lut_s8" in str(layer["kernel"]) for layer in info.layers) > 0
    assert "_lut[256]" in (info.dir / "lut_weights.c").read_text()


def test_mean_of_separate_axes_plans_scratch(tmp_path: Path) -> None:
    _, info = _compile("mean", tmp_path / "b")
    scratch = {layer["node"]: layer["scratch_bytes"] for layer in info.layers}
    assert scratch["mean_gather"] == 6 * 5 * 7  # the whole input, its reduced axes gathered
    assert scratch["gap_nhwc"] == 0 and scratch["mean_nchw"] == 0


# -- axis merging (pure Python) -----------------------------------------------------------------------------


def test_axis_merging() -> None:
    assert merged_transpose((1, 3, 5, 7), (0, 2, 3, 1)) == ([3, 35], [1, 0])
    assert merged_transpose((1, 2, 3, 5, 7), (0, 2, 1, 3, 4)) == ([2, 3, 35], [1, 0, 2])
    assert merged_transpose((4, 1, 6), (1, 0, 2)) == ([24], [0])  # only a size-1 axis moves
    assert merged_pad((1, 5, 7, 3), (0, 2, 0, 0, 0, 1, 1, 0)) == ([5, 21], [2, 0], [1, 3])
    assert merged_reduce((1, 6, 5, 7), (1, 2)) == ([30, 7], [True, False])
    assert merged_reduce((2, 6, 5, 7), (1, 3)) == ([2, 6, 5, 7], [False, True, False, True])
    assert broadcast_plan((1, 5, 7, 6), (1, 1, 1, 6), (1, 5, 7, 6)) == ([35, 6], [6, 1], [0, 1])
    assert broadcast_plan((1, 6, 5, 7), (1, 6, 1, 1), (1, 6, 5, 7)) == ([6, 35], [35, 1], [1, 0])
    assert broadcast_plan((6,), (2, 3, 6), (2, 3, 6)) == ([6, 6], [0, 1], [6, 1])
