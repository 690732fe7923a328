"""The Edge TPU mapping report: which operators the Edge TPU compiler can map, and where the model splits.

The rules follow Coral's published model requirements (see docs/tflite.md and
REFERENCE.md): 8-bit quantized tensors only, at most three non-unit (innermost)
dimensions, no fused activation on pooling and concatenation, a
one-dimensional fully-connected output, equal dilation in x and y, and the
per-op limits of Coral's operation table. The compiler maps operators from
the start; at the first operator it cannot map, that operator and everything
after it run on the CPU. QUANTIZE from float at the model inputs and
DEQUANTIZE to float at its outputs stay on the CPU without splitting.

When ``edgetpu_compiler`` is on PATH the backend runs it and keeps its log;
otherwise the report carries the command to run.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tinyc.backends.tflite.schema import activation_name
from tinyc.backends.tflite.writer import Written, WrittenOp
from tinyc.ir.dtypes import DType

log = logging.getLogger(__name__)

# Coral's operation table (builtin -> its documented limit, "" when none).
EDGETPU_OPS: dict[str, str] = {
    "ADD": "",
    "SUB": "",
    "MUL": "",
    "MAXIMUM": "",
    "MINIMUM": "",
    "LOGISTIC": "",
    "RELU": "",
    "RELU6": "",
    "RELU_N1_TO_1": "",
    "TANH": "",
    "AVERAGE_POOL_2D": "no fused activation",
    "MAX_POOL_2D": "no fused activation",
    "CONCATENATION": "no fused activation; a constant input only as the second of two, all zeros",
    "CONV_2D": "",
    "DEPTHWISE_CONV_2D": "",
    "FULLY_CONNECTED": "default weights format; one-dimensional output",
    "L2_NORMALIZATION": "",
    "MEAN": "reduction along x and/or y only",
    "PAD": "padding along x and/or y only",
    "RESHAPE": "",
    "RESIZE_BILINEAR": "3-D input/output; may stay on the CPU to avoid precision loss",
    "RESIZE_NEAREST_NEIGHBOR": "3-D input/output; may stay on the CPU to avoid precision loss",
    "SLICE": "",
    "SOFTMAX": "1-D input of at most 16,000 elements",
    "SPACE_TO_DEPTH": "",
    "SPLIT": "",
    "SQUEEZE": "only leading unit dimensions",
    "STRIDED_SLICE": "all strides 1, no ellipsis or new-axis masks",
    # Listed by newer Coral compiler releases.
    "QUANTIZE": "between 8-bit types",
    "TRANSPOSE": "",
    "EXPAND_DIMS": "",
    "PACK": "",
    "HARD_SWISH": "",
    "TRANSPOSE_CONV": "",
    "PRELU": "",
    "REDUCE_MAX": "",
    "REDUCE_MIN": "",
    "SUM": "",
    "RSQRT": "",
    "SQUARED_DIFFERENCE": "",
}

EIGHT_BIT = (DType.I8, DType.U8)
SOFTMAX_MAX = 16000


@dataclass
class OpMapping:
    """One operator's verdict."""

    index: int
    builtin: str
    node: str  # IR node name ("" for I/O conversions)
    loc: str
    mappable: bool
    reasons: list[str] = field(default_factory=list)
    suggestions: list[str] = field(default_factory=list)
    where: str = "tpu"
    notes: list[str] = field(default_factory=list)  # doubts that do not block the mapping  # "tpu", "cpu" (after the split) or "cpu-edge" (input/output conversion)


@dataclass
class EdgeTpuReport:
    ops: list[OpMapping]
    split_at: int | None  # index of the first operator that runs on the CPU (None: all mapped)
    compiler: dict[str, Any] = field(default_factory=dict)

    @property
    def tpu_ops(self) -> int:
        return sum(1 for o in self.ops if o.where == "tpu")

    def to_json(self) -> dict[str, Any]:
        return {
            "tpu_ops": self.tpu_ops,
            "cpu_ops": sum(1 for o in self.ops if o.where == "cpu"),
            "edge_ops": sum(1 for o in self.ops if o.where == "cpu-edge"),
            "split_at": self.split_at,
            "ops": [
                {"index": o.index, "builtin": o.builtin, "node": o.node, "where": o.where, "mappable": o.mappable, "reasons": o.reasons, "suggestions": o.suggestions, "notes": o.notes}
                for o in self.ops
            ],
            "compiler": self.compiler,
        }


def _non_unit_ok(shape: tuple[int, ...]) -> bool:
    """Only the innermost three dimensions may exceed 1."""
    return all(d == 1 for d in shape[:-3])


def check_op(w: Written, op: WrittenOp, options: Any) -> tuple[list[str], list[str]]:
    """(reasons it cannot map, suggestions) for one operator; no reasons means mappable."""
    reasons: list[str] = []
    hints: list[str] = []
    b = op.builtin
    types = w.tensor_types
    acts = [i for i in (*op.inputs, *op.outputs) if i >= 0 and not _is_const(w, i)]
    if b not in EDGETPU_OPS:
        reasons.append(f"{b} has no Edge TPU implementation")
        hints.append(_replacement_hint(b))
    bad_types = sorted({types[i].dtype.short for i in acts if types[i].dtype not in EIGHT_BIT})
    if bad_types:
        reasons.append(f"{'/'.join(bad_types)} tensors: the Edge TPU runs 8-bit quantized tensors only")
        hints.append("quantize this op to int8 (tinyc keeps ops without integer semantics in float): replace it, or end the model before it and run the rest on the host")
    for i in acts:
        if not _non_unit_ok(types[i].shape):
            reasons.append(f"tensor {w.tensor_names[i]} {list(types[i].shape)} has more than 3 non-unit dimensions (only the innermost 3 may exceed 1)")
            hints.append("compile with batch 1, or fold the leading dimensions into the innermost three with a Reshape")
            break
    act = getattr(options, "fusedActivationFunction", 0) if options is not None else 0
    if b in ("AVERAGE_POOL_2D", "MAX_POOL_2D", "CONCATENATION") and act:
        reasons.append(f"{b} with fused activation {activation_name(act)}")
        hints.append("write the activation as its own op (tinyc does this for the Edge TPU targets)")
    if b in ("CONV_2D", "DEPTHWISE_CONV_2D") and options is not None and options.dilationHFactor != options.dilationWFactor:
        reasons.append(f"dilation {options.dilationHFactor} in y differs from {options.dilationWFactor} in x")
        hints.append("use the same dilation in both directions")
    if b == "FULLY_CONNECTED":
        y = types[op.outputs[0]]
        if any(d != 1 for d in y.shape[:-1]):
            reasons.append(f"output {list(y.shape)} is not one-dimensional")
            hints.append("compile with batch 1 (one row of features per inference)")
    if b == "SOFTMAX":
        x = types[op.inputs[0]]
        if sum(1 for d in x.shape if d != 1) > 1 or x.numel > SOFTMAX_MAX:
            reasons.append(f"softmax input {list(x.shape)} is not 1-D with at most {SOFTMAX_MAX} elements")
            hints.append("apply the softmax on the host: drop it from the model (argmax does not need it)")
    if b == "MEAN":
        x = types[op.inputs[0]]
        axes = _const_ints(w, op.inputs[1])
        spatial = {x.rank - 3, x.rank - 2} if x.rank >= 3 else set()
        if axes is None or not set(a % max(x.rank, 1) for a in axes) <= spatial:
            reasons.append(f"MEAN over axes {axes}: only x and y reductions map")
            hints.append("reduce over height and width only (global average pooling), not channels")
    if b == "PAD":
        pads = _const_ints(w, op.inputs[1])
        x = types[op.inputs[0]]
        if pads is not None and x.rank >= 3:
            pairs = [pads[2 * i : 2 * i + 2] for i in range(x.rank)]
            if any(any(p) for i, p in enumerate(pairs) if i not in (x.rank - 3, x.rank - 2)):
                reasons.append("PAD along a dimension other than x and y")
                hints.append("pad only height and width")
    if b == "CONCATENATION":
        consts = [i for i in op.inputs if _is_const(w, i)]
        if consts and (len(op.inputs) != 2 or op.inputs[1] not in consts or any(_const_any(w, i) for i in consts)):
            reasons.append("a constant input that is not the all-zero second of two inputs")
            hints.append("compute the constant part on the host, or feed it as a model input")
    return reasons, hints


def op_notes(w: Written, op: WrittenOp) -> list[str]:
    """Doubts the published rules do not settle."""
    notes = []
    if op.builtin == "FULLY_CONNECTED" and len(op.inputs) > 1:
        q = w.tensor_types[op.inputs[1]].quant
        if q is not None and not q.is_per_tensor:
            notes.append(
                "per-channel fully-connected weights are newer than the Edge TPU compiler's TFLite; if it leaves this op "
                "on the CPU, quantize fully-connected weights per tensor"
            )
    return notes


def _replacement_hint(builtin: str) -> str:
    return {
        "LEAKY_RELU": "use PReLU with a constant slope, or ReLU, which the Edge TPU maps",
        "DEQUANTIZE": "keep the model integer to its end: use --io-type int8 or uint8",
        "PADV2": "pad with the zero point (PAD), or use SAME padding in the model",
        "BATCH_MATMUL": "use a fully-connected layer with constant weights",
    }.get(builtin, "replace it with supported ops, or move it to the end of the model so everything before stays on the TPU")


def _is_const(w: Written, i: int) -> bool:
    return i in w.constants


def _const_ints(w: Written, i: int) -> list[int] | None:
    data = w.constants.get(i)
    return None if data is None else [int(v) for v in data.reshape(-1)]


def _const_any(w: Written, i: int) -> bool:
    data = w.constants.get(i)
    return bool(data is not None and data.any())


def _is_edge(w: Written, op: WrittenOp) -> bool:
    """QUANTIZE from a float model input, DEQUANTIZE into a float model output: CPU without a split."""
    types = w.tensor_types
    if op.builtin == "QUANTIZE" and op.inputs[0] in w.inputs and types[op.inputs[0]].dtype.is_float:
        return True
    return op.builtin == "DEQUANTIZE" and op.outputs[0] in w.outputs and types[op.outputs[0]].dtype.is_float


def map_ops(w: Written) -> EdgeTpuReport:
    """The mapping verdict of every operator and the split point."""
    ops: list[OpMapping] = []
    split: int | None = None
    for op in w.ops:
        node = op.node
        reasons, hints = check_op(w, op, op.options)
        m = OpMapping(op.index, op.builtin, node.name if node is not None else "", str(node.loc) if node is not None else "", not reasons, reasons, hints)
        m.notes = op_notes(w, op)
        if _is_edge(w, op):
            m.where = "cpu-edge"
            m.reasons = [f"{op.builtin} at the model's {'input' if op.builtin == 'QUANTIZE' else 'output'} converts float: it runs on the CPU"]
            m.suggestions = ["use --io-type int8 or uint8 to leave the conversion to the application"]
        elif split is not None or reasons:
            if split is None:
                split = op.index
            m.where = "cpu"
            if not reasons:
                m.reasons = [f"after the split at operator {split}: the compiler does not resume mapping"]
        ops.append(m)
    return EdgeTpuReport(ops, split)


# -- the compiler ------------------------------------------------------------------------------


def compiler_command(exe: str, model: Path, out_dir: Path) -> list[str]:
    return [exe, "-s", "-o", str(out_dir), str(model)]


def run_compiler(exe: str, model: Path, out_dir: Path, timeout: float = 300.0) -> dict[str, Any]:
    """Run edgetpu_compiler when it is on PATH; otherwise say how to."""
    found = shutil.which(exe)
    shown = " ".join(compiler_command(exe, Path(model.name), Path(".")))
    if found is None:
        log.warning("%s is not on PATH (x86-64 Linux only): in the output folder, run `%s`", exe, shown)
        return {"ran": False, "command": shown, "note": f"{exe} is not on PATH (it runs on x86-64 Linux only): run the command in the output folder"}
    try:
        proc = subprocess.run(compiler_command(found, model, out_dir), capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"ran": False, "command": shown, "note": f"{exe} failed to run: {exc}"}
    logtext = (proc.stdout or "") + (proc.stderr or "")
    return {"ran": True, "command": shown, "returncode": proc.returncode, "log": logtext}
