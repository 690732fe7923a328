"""Which layers the Jetson DLA (NVDLA) can run, from TensorRT's documented DLA restrictions.

DLA runs fp16 and int8 only, with static shapes; with ``--allowGPUFallback``
TensorRT moves every layer it cannot place on the DLA to the GPU (and splits
the network into several DLA loadables). This module estimates, per ONNX
node, whether it lands on the DLA and why not: the limits below follow the
"DLA Supported Layers and Restrictions" section of the TensorRT developer
guide. ``trtexec --verbose`` on the device prints the real placement.

Orin's DLA (v2) adds softmax, unary (abs, sin, cos, atan), max reduction and
slices over Xavier's (v1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx

from tinyc.backends.tensorrt.profile import TrtProfile

QDQ = ("QuantizeLinear", "DequantizeLinear")
MAX_DIM = 8192
_ELEMENTWISE = frozenset({"Add", "Sub", "Mul", "Max", "Min", "Div", "Pow", "Sum"})
_ACTIVATION = frozenset({"Relu", "Sigmoid", "Tanh", "LeakyRelu"})
_ORIN_UNARY = frozenset({"Abs", "Sin", "Cos", "Atan"})


@dataclass(frozen=True)
class DlaVerdict:
    """Where one layer runs when the engine is built for a DLA core with GPU fallback."""

    node: str
    op: str
    on_dla: bool
    reason: str = ""


def _attrs(node: onnx.NodeProto) -> dict[str, Any]:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _ints(attrs: dict[str, Any], key: str, default: list[int]) -> list[int]:
    v = attrs.get(key)
    return [int(x) for x in v] if isinstance(v, (list, tuple)) and v else default


class _Shapes:
    def __init__(self, model: onnx.ModelProto) -> None:
        inferred = onnx.shape_inference.infer_shapes(model)
        self.shapes: dict[str, list[int]] = {}
        for vi in (*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output):
            dims = [d.dim_value if d.HasField("dim_value") else -1 for d in vi.type.tensor_type.shape.dim]
            self.shapes[vi.name] = dims
        self.inits = {t.name: t for t in model.graph.initializer}
        for t in model.graph.initializer:
            self.shapes[t.name] = list(t.dims)
        self.producer = {o: n for n in model.graph.node for o in n.output}

    def of(self, name: str) -> list[int]:
        return self.shapes.get(name, [])

    def constant(self, name: str) -> bool:
        if name in self.inits:
            return True
        p = self.producer.get(name)
        return p is not None and p.op_type == "DequantizeLinear" and p.input[0] in self.inits


def _reason(node: onnx.NodeProto, s: _Shapes, profile: TrtProfile) -> str:
    """Why ``node`` cannot run on the DLA ('' when it can)."""
    op = node.op_type
    a = _attrs(node)
    x = s.of(node.input[0]) if node.input else []
    for name in (*node.input, *node.output):
        if name and any(d > MAX_DIM for d in s.of(name)[1:]):
            return f"a dimension of {name!r} exceeds {MAX_DIM}"
    if op in ("Conv", "ConvTranspose"):
        if len(x) != 4:
            return "DLA convolves in 2-D only"
        if not s.constant(node.input[1]):
            return "weights are not constant"
        kernel = _ints(a, "kernel_shape", s.of(node.input[1])[2:])
        strides = _ints(a, "strides", [1, 1])
        pads = _ints(a, "pads", [0, 0, 0, 0])
        dil = _ints(a, "dilations", [1, 1])
        if any(not 1 <= k <= 32 for k in kernel):
            return f"kernel {kernel} outside [1, 32]"
        if op == "ConvTranspose":
            if any(pads) or any(d != 1 for d in dil) or int(a.get("group", 1)) != 1:
                return "DLA deconvolution takes no padding, dilation or groups"
            return ""
        if any(not 1 <= st <= 8 for st in strides):
            return f"strides {strides} outside [1, 8]"
        if any(not 0 <= p <= 31 for p in pads):
            return f"pads {pads} outside [0, 31]"
        if any(not 1 <= d <= 32 for d in dil):
            return f"dilations {dil} outside [1, 32]"
        return ""
    if op in ("Gemm", "MatMul"):
        if len(node.input) < 2 or not s.constant(node.input[1]):
            return "a matrix product of two computed tensors (DLA runs fully connected layers with constant weights)"
        return ""
    if op in ("MaxPool", "AveragePool"):
        if len(x) != 4:
            return "DLA pools in 2-D only"
        kernel, strides = _ints(a, "kernel_shape", []), _ints(a, "strides", [1, 1])
        pads = _ints(a, "pads", [0, 0, 0, 0])
        if any(not 1 <= k <= 8 for k in kernel):
            return f"window {kernel} outside [1, 8]"
        if any(not 1 <= st <= 16 for st in strides):
            return f"strides {strides} outside [1, 16]"
        if any(not 0 <= p <= 7 for p in pads):
            return f"pads {pads} outside [0, 7]"
        if op == "AveragePool" and any(pads) and not int(a.get("count_include_pad", 0)):
            return "average pooling that excludes padding (DLA counts padded cells)"
        return ""
    if op in ("GlobalAveragePool", "GlobalMaxPool"):
        if len(x) != 4:
            return "DLA pools in 2-D only"
        if any(d > 8 for d in x[2:]):
            return f"a global pool over {x[2:]} is a window larger than 8"
        return ""
    if op in _ACTIVATION or op == "BatchNormalization":
        return ""
    if op == "Clip":
        lo = s.inits.get(node.input[1]) if len(node.input) > 1 and node.input[1] else None
        low = float(onnx.numpy_helper.to_array(lo)) if lo is not None else None
        return "" if low == 0.0 else "DLA clips as a clipped ReLU only (lower bound 0)"
    if op == "PRelu":
        return "" if s.constant(node.input[1]) else "the slope is not constant"
    if op in _ELEMENTWISE:
        shapes = [s.of(n) for n in node.input]
        if any(len(sh) != 4 for sh in shapes if len(sh) > 1):
            return "DLA element-wise layers work on 4-D tensors"
        full = max(shapes, key=len)
        for sh in shapes:
            if sh != full and int(np.prod(sh or [1])) not in (1, full[1] if len(full) > 1 else 1):
                return f"broadcast of {sh} to {full} is neither per-channel nor scalar"
        return ""
    if op == "Concat":
        axis = int(a.get("axis", 0))
        return "" if len(x) == 4 and axis in (1, -3) else "DLA concatenates along the channel axis of 4-D tensors only"
    if op == "Resize":
        mode = a.get("mode", b"nearest")
        mode = mode.decode() if isinstance(mode, bytes) else str(mode)
        return "" if len(x) == 4 and mode in ("nearest", "linear") else "DLA resizes 4-D tensors (nearest or bilinear) only"
    if profile.orin_dla:
        if op in _ORIN_UNARY:
            return ""
        if op == "Softmax":
            axis = int(a.get("axis", -1))
            return "" if len(x) == 4 and axis in (1, -3) else "Orin's DLA runs softmax over the channel axis of 4-D tensors only"
        if op == "ReduceMax":
            return "" if len(x) == 4 else "Orin's DLA reduces 4-D tensors only"
        if op == "Slice":
            return "" if len(x) == 4 else "Orin's DLA slices 4-D tensors only"
    if op in ("Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze"):
        return "shuffle layers (reshape/transpose) run on the GPU"
    return f"{op} has no DLA implementation"


def dla_layers(model: onnx.ModelProto, profile: TrtProfile, precision: str, *, static: bool = True) -> list[DlaVerdict]:
    """Per ONNX node (Q/DQ excluded: TensorRT folds them into the layers), whether it runs on the DLA."""
    out: list[DlaVerdict] = []
    if profile.dla_cores == 0:
        return out
    shapes = _Shapes(model)
    for idx, node in enumerate(model.graph.node):
        if node.op_type in QDQ:
            continue
        name = node.name or f"#{idx}"
        if precision == "fp32":
            out.append(DlaVerdict(name, node.op_type, False, "DLA runs fp16 or int8 only; this engine is fp32"))
        elif not static:
            out.append(DlaVerdict(name, node.op_type, False, "DLA needs static shapes; this engine has a dynamic batch"))
        else:
            reason = _reason(node, shapes, profile)
            out.append(DlaVerdict(name, node.op_type, not reason, reason))
    return out
