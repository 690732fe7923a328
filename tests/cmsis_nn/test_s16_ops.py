"""int16x8 layers in generated C: one small model per s16 kernel, bit-exact with tinyc's integer reference.

Each model is float in -> QuantizeLinear (int16, zero point 0) -> the layer(s)
-> DequantizeLinear -> float out, with random scales, odd shapes, padding,
strides, dilation, fused clamps and int64 biases far beyond int32. The C runs
on the host under ASan/UBSan and on QEMU's Cortex-M7; ``<name>_run`` on int16
inputs (full range, both extremes) must equal ``tinyc.interpreter.run_graph``
on the compiled integer graph, and ``<name>_run_float`` the dequantized
reference of the same inputs quantized as ONNX QuantizeLinear does.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from cmsis_graphs import Builder
from cmsis_helpers import compile_graph, needs_gcc, needs_qemu

from tinyc.backends.cmsis_nn.harness import BuildInfo, build_host, build_qemu, run_harness
from tinyc.driver import resolve_target
from tinyc.errors import UnsupportedOpError
from tinyc.interpreter import run_graph
from tinyc.ir.core import Graph, Loc, Value
from tinyc.ir.dtypes import DType
from tinyc.ir.opdef import get_op
from tinyc.ir.types import QuantParams, TensorType
from tinyc.validate import dequantize, quantize_like_onnx

pytestmark = needs_gcc


class S16Builder(Builder):
    """Builder's layers with int16 activations (zero point 0) and int64 biases."""

    def act_type(self, shape: tuple[int, ...], scale: float | None = None, zp: int | None = None) -> TensorType:
        s = float(scale if scale is not None else self.rng.uniform(2e-4, 2e-3))
        return TensorType(DType.I16, shape, QuantParams.per_tensor(s, 0))

    def float_input(self, name: str, shape: tuple[int, ...], scale: float = 1e-3, zp: int = 0) -> Value:
        x = self.g.add_input(name, TensorType(DType.F32, shape))
        q = get_op("QuantizeLinear")
        attrs = q.Attrs(scale=(scale,), zero_point=(0,), axis=None, dtype=DType.I16)
        return self.g.add_node(q, [x], attrs, name=f"{name}_quantize", loc=Loc.of(f"{name}_quantize")).output

    def bias(self, name: str, n: int) -> Value:
        b = self.rng.integers(-(2**20), 2**20, size=n).astype(np.int64)
        b[0] = -(2**40) if n % 2 else 2**40  # far outside int32: the int64 path must carry it (that channel saturates)
        return self.g.add_const(name, b)

    def node(self, op: str, inputs: list[Value | None], out: TensorType, name: str, **attrs: object) -> Value:
        """As Builder.node, with an output scale that keeps typical values well inside int16 (few clamp)."""
        if op in ("Conv2D", "DepthwiseConv2D", "FullyConnected", "AddAct", "MulAct"):
            out = TensorType(DType.I16, out.shape, QuantParams.per_tensor(self._out_scale(op, inputs), 0))
        return super().node(op, inputs, out, name, **attrs)

    def _out_scale(self, op: str, inputs: list[Value | None]) -> float:
        scales = [v.type.quant.scale[0] for v in inputs[:2] if v is not None and v.type.quant is not None]
        jitter = float(self.rng.uniform(0.7, 1.4))
        if op.startswith("Add"):
            return max(scales) * jitter * 1.5
        if op.startswith("Mul"):
            return scales[0] * scales[1] * 1e8 / 12000 * jitter
        w = inputs[1]
        assert w is not None and w.type.quant is not None
        channels = w.type.shape[3] if op == "DepthwiseConv2D" else w.type.shape[0]
        depth = w.type.numel // channels
        return scales[0] * float(np.mean(w.type.quant.scale_array())) * 10000 * 73 * depth**0.5 / 12000 * jitter

    def pool(self, op: str, x: Value, k: tuple[int, int], *, stride=(1, 1), pads=(0, 0, 0, 0), act=(None, None), name: str) -> Value:
        n, h, w, c = x.type.shape
        oh = (h + pads[0] + pads[2] - k[0]) // stride[0] + 1
        ow = (w + pads[1] + pads[3] - k[1]) // stride[1] + 1
        return self.node(op, [x], TensorType(DType.I16, (n, oh, ow, c), x.type.quant), name, kernel=k, strides=stride, pads=pads, act_min=act[0], act_max=act[1])

    def reshape(self, x: Value, shape: tuple[int, ...], name: str) -> Value:
        o = get_op("Reshape")
        return self.g.add_node(o, [x], o.Attrs(shape=shape), name=name, loc=Loc.of(f"model.onnx:{name}"), output_types=[TensorType(DType.I16, shape, x.type.quant)]).output

    def plain(self, op: str, a: Value, c: Value, name: str) -> Value:
        """An attribute-less binary op (ONNX Add / Mul) with a calibrated-looking output scale."""
        out = TensorType(DType.I16, a.type.shape, QuantParams.per_tensor(self._out_scale(op + "Act", [a, c]), 0))
        return self.g.add_node(get_op(op), [a, c], None, name=name, loc=Loc.of(f"model.onnx:{name}"), output_types=[out]).output

    def unary(self, op: str, x: Value, out: TensorType, name: str, **attrs: object) -> Value:
        o = get_op(op)
        a = o.Attrs(**attrs) if attrs else None
        return self.g.add_node(o, [x], a, name=name, loc=Loc.of(f"model.onnx:{name}"), output_types=[out]).output


# -- one model per kernel ------------------------------------------------------------------------


def conv() -> Graph:
    b = S16Builder("conv_s16", 10)
    x = b.float_input("x", (2, 9, 7, 3), scale=4e-4)
    h = b.conv(x, 5, (3, 3), stride=(2, 1), pads=(1, 1, 1, 0), act=(0.0, 6.0), name="conv_a")
    h = b.conv(h, 4, (2, 3), dil=(2, 1), pads=(1, 0, 0, 2), name="conv_b", per_tensor=True)
    h = b.conv(h, 6, (1, 1), name="conv_1x1")
    b.float_output(h, "y")
    return b.g


def depthwise() -> Graph:
    b = S16Builder("dw_s16", 11)
    x = b.float_input("x", (1, 8, 11, 5), scale=3e-4)
    h = b.dwconv(x, (3, 3), pads=(1, 1, 1, 1), act=(0.0, None), name="dw_a")
    h = b.dwconv(h, (2, 3), mult=2, stride=(2, 2), pads=(0, 1, 1, 1), name="dw_b")
    h = b.dwconv(h, (5, 1), pads=(2, 0, 2, 0), act=(-8.0, 8.0), name="dw_c")
    b.float_output(h, "y")
    return b.g


def fully_connected() -> Graph:
    b = S16Builder("fc_s16", 12)
    x = b.float_input("x", (3, 37), scale=5e-4)
    h = b.fc(x, 29, act=(0.0, None), name="fc_tensor")
    h = b.fc(h, 300, name="fc_channel", per_tensor=False)  # accumulation depth 300 (> 256: the 64-bit partial sums)
    h = b.fc(h, 7, name="fc_nobias", per_tensor=False, bias=False)
    b.float_output(h, "y")
    return b.g


def pools() -> Graph:
    b = S16Builder("pool_s16", 13)
    x = b.float_input("x", (1, 7, 9, 6), scale=2e-3)
    m = b.pool("MaxPool2D", x, (3, 2), stride=(2, 2), pads=(1, 0, 1, 1), name="maxpool")
    a = b.pool("AvgPool2D", m, (2, 3), stride=(1, 2), pads=(1, 1, 0, 1), act=(-20.0, 20.0), name="avgpool")
    g = b.pool("AvgPool2D", a, a.type.shape[1:3], name="gap")
    b.float_output(g, "y")
    b.float_output(b.pool("MaxPool2D", x, (2, 2), act=(0.0, None), name="maxpool_relu"), "z")
    return b.g


def elementwise() -> Graph:
    b = S16Builder("elt_s16", 14)
    x = b.float_input("x", (1, 5, 3, 4), scale=8e-4)
    z = b.float_input("z", (1, 5, 3, 4), scale=3e-4)
    s = b.plain("Add", x, z, name="add")
    s2 = b.binary("AddAct", s, x, act=(0.0, None), name="add_relu")
    p = b.plain("Mul", s2, z, name="mul")
    p2 = b.binary("MulAct", p, p, act=(-1.0, 5000.0), name="square_clamped")
    b.float_output(p2, "y")
    b.float_output(s, "sum")
    return b.g


def activations() -> Graph:
    b = S16Builder("act_s16", 15)
    x = b.float_input("x", (2, 33), scale=1e-3)
    r = b.unary("Relu", x, b.act_type(x.type.shape), "relu_rescale")
    c = b.unary("Clip", r, r.type, "clip_same", min=0.1, max=9.5)
    q = b.unary("Requantize", c, TensorType(DType.I16, c.type.shape, QuantParams.per_tensor(7e-4, 0)), "requantize", scale=7e-4, zero_point=0, dtype=DType.I16)
    f = b.reshape(q, (2, 3, 11), name="reshape")
    b.float_output(f, "y")
    return b.g


MODELS: dict[str, Callable[[], Graph]] = {
    "conv": conv,
    "depthwise": depthwise,
    "fully_connected": fully_connected,
    "pools": pools,
    "elementwise": elementwise,
    "activations": activations,
}


def _samples(graph: Graph, n: int, seed: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """int16 inputs over the full range (sample 0 all -32768, sample 1 all 32767) and float inputs well past it."""
    rng = np.random.default_rng(seed)
    xs, fxs = [], []
    for v in graph.inputs:
        shape = v.type.shape
        x = rng.integers(-32768, 32768, size=(n, *shape)).astype(np.int16)
        x[0], x[1] = -32768, 32767
        xs.append(x)
        fxs.append((rng.normal(size=(n, *shape)) * 20).astype(np.float32))
    return xs, fxs


def _check(graph: Graph, info: BuildInfo, res: object, xs: list[np.ndarray], fxs: list[np.ndarray]) -> None:
    names = [v.name for v in graph.inputs]
    fq = [quantize_like_onnx(f, p["scale"], p["zero_point"], p["dtype"]) for f, p in zip(fxs, info.inputs)]
    for k in range(xs[0].shape[0]):
        want = run_graph(graph, {n: x[k] for n, x in zip(names, xs)})
        fwant = run_graph(graph, {n: x[k] for n, x in zip(names, fq)})
        for o, (v, p) in enumerate(zip(graph.outputs, info.outputs)):
            assert want[v.name].dtype == np.int16
            np.testing.assert_array_equal(res.outputs[o][k], want[v.name], err_msg=f"int16 sample {k}, output {o}")  # type: ignore[attr-defined]
            np.testing.assert_array_equal(res.float_outputs[o][k], dequantize(fwant[v.name], p["scale"], p["zero_point"]), err_msg=f"float sample {k}, output {o}")  # type: ignore[attr-defined]


def _build(name: str, tmp_path: Path) -> tuple[Graph, BuildInfo]:
    graph = MODELS[name]()
    art = compile_graph(graph, tmp_path / "build", name)
    info = BuildInfo.read(art.output_dir)
    assert all(p["dtype"] == "i16" for p in (*info.inputs, *info.outputs))
    return graph, info  # compile_graph rewrote ``graph`` into the integer graph the C implements


@pytest.mark.parametrize("name", sorted(MODELS))
def test_s16_layer_bit_exact_on_host_with_sanitizers(name: str, tmp_path: Path) -> None:
    graph, info = _build(name, tmp_path)
    text = (info.dir / f"{info.prefix}.c").read_text()
    assert "_s8(" not in text  # every layer took an s16 kernel or helper
    exe = build_host(info.dir, tmp_path / "work", sanitize=True, opt="-O1")
    xs, fxs = _samples(graph, 6, seed=1)
    res = run_harness(exe, info, tmp_path / "work", xs, fxs)
    _check(graph, info, res, xs, fxs)


@pytest.mark.parametrize("name", [pytest.param(n, marks=needs_qemu) for n in sorted(MODELS)])
def test_s16_layer_bit_exact_on_qemu(name: str, tmp_path: Path) -> None:
    graph, info = _build(name, tmp_path)
    exe = build_qemu(info.dir, tmp_path / "work", resolve_target("stm32h7"))
    xs, fxs = _samples(graph, 4, seed=2)
    res = run_harness(exe, info, tmp_path / "work", xs, fxs, on="qemu")
    _check(graph, info, res, xs, fxs)
    assert res.instructions and res.instructions[0] > 0


def test_s16_header_types_and_buffer_sizes(tmp_path: Path) -> None:
    """The API says int16_t for int16 I/O and the planner gives int16 buffers 2 bytes per element."""
    graph, info = _build("fully_connected", tmp_path)
    header = (info.dir / f"{info.prefix}.h").read_text()
    p = info.prefix.upper()
    assert f"#define {p}_IN0_TYPE int16_t" in header and f"#define {p}_IN0_BYTES {3 * 37 * 2}" in header
    assert f"{info.prefix}_status {info.prefix}_run(const int16_t *in0, int16_t *out0);" in header
    assert f"int16_t *{info.prefix}_input(int32_t index);" in header
    source = (info.dir / f"{info.prefix}.c").read_text()
    assert "i16[3,300] 1,800 B" in source  # the 300-wide hidden layer: 2 bytes per value
    assert "arm_fully_connected_s16(" in source and "arm_fully_connected_per_channel_s16(" in source


def test_int8_and_int16_mixed_in_one_layer_is_refused(tmp_path: Path) -> None:
    b = S16Builder("mixed", 16)
    x = b.float_input("x", (1, 8))
    q = b.unary("Requantize", x, TensorType(DType.I8, (1, 8), QuantParams.per_tensor(0.05, 0)), "to_int8", scale=0.05, zero_point=0, dtype=DType.I8)
    dq = get_op("DequantizeLinear")
    out = b.g.add_node(dq, [q], dq.Attrs(scale=(0.05,), zero_point=(0,), axis=None, dtype=DType.F32), name="dq", output_names=["y"]).output
    b.g.outputs.append(out)
    with pytest.raises(UnsupportedOpError, match="mixes int8 and int16"):
        compile_graph(b.g, tmp_path / "b", "mixed")
