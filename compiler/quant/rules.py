"""Which ops the quantizer turns into integer ops, and how each chooses its output parameters.

One :class:`Rule` per op name: which inputs are activations (quantized per
tensor), which is the weight (int8, symmetric, per output channel along
``weight_axis``) and the bias (int32, or int64 for 16x8), how the output's
scale and zero point are found, and for which schemes the op has integer
semantics. Ops without a rule (or without semantics for the scheme) stay in
float between a DequantizeLinear and a QuantizeLinear (a "float island").
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from tinyc.ir.core import Node


class OutParams(enum.Enum):
    """How a quantized op's output parameters are chosen."""

    CALIBRATE = "calibrate"  # from the observed range of the float output
    SAME = "same"  # the first input's (data movement, pools: TFLite requires it)
    FIXED = "fixed"  # TFLite's fixed output (int8 softmax, logistic, tanh)
    UNION = "union"  # concat: the range covering every input


class Scheme(enum.Enum):
    """Integer scheme: int8 activations, or int16 activations with int8 weights."""

    INT8 = "int8"
    INT16X8 = "int16x8"


BOTH = frozenset(Scheme)
INT8_ONLY = frozenset({Scheme.INT8})


@dataclass(frozen=True)
class Rule:
    act_inputs: tuple[int, ...] | None  # None: every input is an activation (variadic)
    out: OutParams
    schemes: frozenset[Scheme] = BOTH
    weight_input: int | None = None
    weight_axis: int = 0
    bias_input: int | None = None


_CONV = dict(act_inputs=(0,), out=OutParams.CALIBRATE, weight_input=1, bias_input=2)

RULES: dict[str, Rule] = {
    "Conv2D": Rule(**_CONV, weight_axis=0),  # type: ignore[arg-type]
    "DepthwiseConv2D": Rule(**_CONV, weight_axis=3),  # type: ignore[arg-type]
    "FullyConnected": Rule(**_CONV, weight_axis=0),  # type: ignore[arg-type]
    "AddAct": Rule((0, 1), OutParams.CALIBRATE),
    "MulAct": Rule((0, 1), OutParams.CALIBRATE),
    "Add": Rule((0, 1), OutParams.CALIBRATE),
    "Mul": Rule((0, 1), OutParams.CALIBRATE),
    "MaxPool2D": Rule((0,), OutParams.SAME),
    "AvgPool2D": Rule((0,), OutParams.SAME),
    "Relu": Rule((0,), OutParams.CALIBRATE),
    "Clip": Rule((0,), OutParams.CALIBRATE),
    "HardSwish": Rule((0,), OutParams.CALIBRATE, INT8_ONLY),
    "Sigmoid": Rule((0,), OutParams.FIXED, INT8_ONLY),
    "Tanh": Rule((0,), OutParams.FIXED, INT8_ONLY),
    "Softmax": Rule((0,), OutParams.FIXED, INT8_ONLY),
    "ReduceMean": Rule((0,), OutParams.CALIBRATE),
    "GlobalAveragePool": Rule((0,), OutParams.CALIBRATE),
    "Concat": Rule(None, OutParams.UNION),
    "Reshape": Rule((0,), OutParams.SAME),
    "Flatten": Rule((0,), OutParams.SAME),
    "Squeeze": Rule((0,), OutParams.SAME),
    "Unsqueeze": Rule((0,), OutParams.SAME),
    "Transpose": Rule((0,), OutParams.SAME),
    "Identity": Rule((0,), OutParams.SAME),
    "Pad": Rule((0,), OutParams.SAME),
    "Slice": Rule((0,), OutParams.SAME),
    "Split": Rule((0,), OutParams.SAME),
}


def rule_for(node: Node, scheme: Scheme) -> tuple[Rule | None, str]:
    """The node's rule, or None and the reason it stays in float."""
    rule = RULES.get(node.op.name)
    if rule is None:
        return None, f"{node.op.name} has no integer semantics in tinyc"
    if scheme not in rule.schemes:
        return None, f"{node.op.name} has integer semantics for {', '.join(sorted(s.value for s in rule.schemes))} only"
    if rule.weight_input is not None:
        w = node.opt_input(rule.weight_input)
        if w is None or not w.is_const:
            return None, f"{node.op.name} weights are not constant"
        if not w.type.dtype.is_float:
            return None, f"{node.op.name} weights are {w.type.dtype.short}, not float"
        b = node.opt_input(rule.bias_input) if rule.bias_input is not None else None
        if b is not None and not b.is_const:
            return None, f"{node.op.name} bias is not constant"
    for i in act_indices(node, rule):
        v = node.opt_input(i)
        if v is not None and not v.type.dtype.is_float:
            return None, f"{node.op.name} input {i} is {v.type.dtype.short}, not float"
    return rule, ""


def act_indices(node: Node, rule: Rule) -> tuple[int, ...]:
    if rule.act_inputs is None:
        return tuple(range(len(node.inputs)))
    return tuple(i for i in rule.act_inputs if i < len(node.inputs) and node.inputs[i] is not None)
