"""Pre-quantized (QDQ) models: keep the scales and zero points the model already carries.

An ONNX QDQ model (onnxruntime's ``quantize_static``, PyTorch's or TensorFlow's
exporters) marks each quantized activation with a QuantizeLinear ->
DequantizeLinear pair and stores weights as integers behind a
DequantizeLinear. The quantizer honours both:

* :func:`absorb_activation_qdq` removes each activation Q -> DQ pair and
  returns its parameters, keyed by the name of the float value it marked;
* :func:`weight_hints` reads the weights' parameters; with the activation
  pairs gone the MCU pipeline folds the weights' DequantizeLinear into float
  constants like any float model's, and :func:`match_weight_hint` recognises
  a folded constant again (its values divide exactly by one of the recorded
  scale sets), so the quantizer restores the same integers.

:func:`take_prequantized` does both before the pipeline runs. Value names
survive the pipeline, except that values re-laid out to NHWC gain a
``_nhwc`` suffix; :meth:`Given.lookup` looks through it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from tinyc.ir.core import Graph, Node
from tinyc.ir.dtypes import DType
from tinyc.ir.types import QuantParams

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WeightHint:
    """The scales of a weight tensor stored as integers in the source model (zero points 0)."""

    scales: tuple[float, ...]


@dataclass(frozen=True)
class GivenParams:
    """Activation parameters a pre-quantized model fixes, with the integer type it used."""

    quant: QuantParams
    dtype: DType

    def as_dtype(self, dtype: DType) -> QuantParams | None:
        """The parameters for ``dtype`` activations: uint8 maps to int8 (zero point - 128); else None if incompatible."""
        if self.dtype is dtype:
            return self.quant
        if self.dtype is DType.U8 and dtype is DType.I8:
            return QuantParams(self.quant.scale, tuple(z - 128 for z in self.quant.zero_point), self.quant.axis)
        return None


@dataclass
class Given:
    """What a pre-quantized model fixes: activation parameters by value name, and weight scale sets."""

    params: dict[str, GivenParams]
    hints: list[WeightHint]

    def lookup(self, name: str) -> GivenParams | None:
        p = self.params.get(name)
        if p is None and name.endswith("_nhwc"):
            p = self.params.get(name[: -len("_nhwc")])
        return p


def take_prequantized(graph: Graph) -> Given:
    """Record and remove a QDQ model's activation pairs, and record its weights' scales (before the pipeline)."""
    if not has_qdq(graph):
        return Given({}, [])
    hints = weight_hints(graph)
    return Given(absorb_activation_qdq(graph), hints)


def has_qdq(graph: Graph) -> bool:
    return any(n.op.name in ("QuantizeLinear", "DequantizeLinear") for n in graph.nodes)


def weight_hints(graph: Graph) -> list[WeightHint]:
    """Parameters of every DequantizeLinear of a constant int8 tensor with zero points 0 (weights)."""
    hints = []
    for node in graph.nodes:
        if node.op.name != "DequantizeLinear":
            continue
        x = node.inputs[0]
        if x is None or not x.is_const or x.type.dtype is not DType.I8:
            continue
        if any(z != 0 for z in node.attrs.zero_point):
            continue
        hints.append(WeightHint(tuple(node.attrs.scale)))
    return hints


def match_weight_hint(w: np.ndarray, axis: int, hints: list[WeightHint]) -> tuple[np.ndarray, QuantParams] | None:
    """Integers and parameters of a folded weight ``w`` if one of ``hints`` reproduces it exactly."""
    channels = w.shape[axis]
    shape = [1] * w.ndim
    shape[axis] = channels
    w32 = w.astype(np.float32)
    for h in hints:
        s = np.asarray(h.scales, dtype=np.float32)
        if s.size == channels and channels > 1:
            s_b, qp = s.reshape(shape), QuantParams.per_axis(s, None, axis)
        elif s.size == 1:
            s_b, qp = s.reshape(()), QuantParams.per_tensor(float(s[0]), 0)
        else:
            continue
        q = np.rint(w32 / s_b)
        if np.any(q < -128) or np.any(q > 127) or not np.array_equal((q * s_b).astype(np.float32), w32):
            continue
        return q.astype(np.int8), qp
    return None


def _pair_params(q: Node, dqs: list[Node]) -> GivenParams | None:
    a = q.attrs
    if a.axis is not None:
        return None
    for dq in dqs:
        if dq.op.name != "DequantizeLinear" or dq.attrs.axis is not None:
            return None
        if tuple(dq.attrs.scale) != tuple(a.scale) or tuple(dq.attrs.zero_point) != tuple(a.zero_point):
            return None
    return GivenParams(QuantParams(tuple(a.scale), tuple(a.zero_point), None), a.dtype)


def absorb_activation_qdq(graph: Graph) -> dict[str, GivenParams]:
    """Remove activation QuantizeLinear -> DequantizeLinear pairs; the parameters by float value name.

    The float value the pair marked takes over the DequantizeLinear's uses
    (and its name, when that was a graph output). A DequantizeLinear of an
    integer graph input is kept, but its parameters are recorded for its output.
    """
    given: dict[str, GivenParams] = {}
    for node in list(graph.nodes):
        if node.graph is not graph:
            continue
        if node.op.name == "DequantizeLinear" and node.attrs.axis is None:
            x = node.inputs[0]
            if x is not None and x in graph.inputs:
                given.setdefault(node.output.name, GivenParams(QuantParams(tuple(node.attrs.scale), tuple(node.attrs.zero_point)), x.type.dtype))
            continue
        if node.op.name != "QuantizeLinear":
            continue
        x, qv = node.inputs[0], node.output
        dqs = qv.users
        if x is None or x.is_const or not x.type.dtype.is_float or not dqs or qv in graph.outputs:
            continue
        params = _pair_params(node, dqs)
        if params is None:
            continue
        out_name = None
        for dq in dqs:
            if dq.output in graph.outputs:
                out_name = dq.output.name
            graph.replace_value(dq.output, x)
            graph.remove_node(dq)
        graph.remove_node(node)
        if out_name is not None and x not in graph.inputs:
            graph.rename_value(x, out_name)
        if x.name in given and given[x.name] != params:
            log.info("value %s carries two different Q/DQ pairs; keeping the first", x.name)
        given.setdefault(x.name, params)
    _through_data_movement(graph, given)
    return given


MOVEMENT = ("Transpose", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity")


def _through_data_movement(graph: Graph, given: dict[str, GivenParams]) -> None:
    """A value that only moves into a marked one shares its parameters (e.g. a graph input before a Transpose
    to NCHW, which the NHWC pipeline later cancels)."""
    changed = True
    while changed:
        changed = False
        for node in graph.nodes:
            src = node.inputs[0] if node.inputs else None
            if node.op.name in MOVEMENT and src is not None and not src.is_const and node.output.name in given and src.name not in given:
                if given[node.output.name].quant.axis is None:
                    given[src.name] = given[node.output.name]
                    changed = True
