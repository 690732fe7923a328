"""TFLite import: a .tflite flatbuffer (float or int8) -> tinyc IR.

The file is parsed and validated as untrusted input (see
``tinyc.backends.tflite.schema.parse_model``); each operator is converted by
the op table shared with the TFLite writer (``tinyc.backends.tflite.optable``),
so reading and writing are two views of one mapping.

An int8 model comes in as the quantized IR the quantizer produces: int8
activations with per-tensor ``QuantParams``, int8 weights with per-channel
(or per-tensor) parameters along TFLite's axes, int32 biases, fused
activations as real clamps (``act_min``/``act_max``), and int8 graph inputs
and outputs (the "int I/O" form). It therefore runs in the integer reference
interpreter and compiles with the CMSIS-NN backend like any quantized graph.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tinyc.backends.tflite import optable
from tinyc.backends.tflite.schema import (
    ParsedModel,
    buffer_bytes,
    dtype_of,
    parse_model,
    tensor_name,
)
from tinyc.errors import ModelLoadError, ShapeError, TinycError, UnsupportedOpError
from tinyc.ir.core import Graph, Loc, Value
from tinyc.ir.dtypes import DType
from tinyc.ir.opdef import OPS
from tinyc.ir.types import QuantParams, TensorType

log = logging.getLogger(__name__)

__all__ = ["load_tflite", "load_tflite_bytes"]

_KERNEL_ROLES = {1: "weights", 2: "bias"}
_ROLES: dict[str, dict[int, str]] = {
    "CONV_2D": _KERNEL_ROLES,
    "DEPTHWISE_CONV_2D": _KERNEL_ROLES,
    "FULLY_CONNECTED": _KERNEL_ROLES,
    "PADV2": {2: "fill"},
}

# Operators that only move data: their integer tensors need no quantization parameters of their own.
_LAYOUT_OPS = frozenset(
    "RESHAPE SQUEEZE EXPAND_DIMS TRANSPOSE GATHER SLICE STRIDED_SLICE SPLIT SPLIT_V CAST SHAPE PACK UNPACK".split()
)
_QUANTIZED_DTYPES = (DType.I8, DType.U8, DType.I16)

MAX_FILE_BYTES = 2**31  # flatbuffers address 2 GiB; larger models keep their data outside (offset/size)


def load_tflite(path: str | Path) -> Graph:
    """Read a .tflite file into a Graph (verified by the caller)."""
    p = Path(path)
    if not p.exists():
        raise ModelLoadError(f"model file not found: {p}", hint="check the path")
    size = p.stat().st_size
    if size > MAX_FILE_BYTES:
        raise ModelLoadError(f"the file is {size} bytes; tinyc reads TFLite files up to 2 GiB", where=str(p))
    return load_tflite_bytes(p.read_bytes(), where=str(p), name=p.stem)


def load_tflite_bytes(data: bytes, *, where: str = "<bytes>", name: str = "main") -> Graph:
    """Read TFLite flatbuffer bytes into a Graph."""
    parsed = parse_model(data, where)
    return _Reader(parsed, name).run()


def _tensor_type(t: Any, where: str) -> TensorType:
    dt = dtype_of(t.type)
    assert dt is not None  # parse_model checked the type
    shape = tuple(int(d) for d in (t.shape if t.shape is not None else []))
    q = t.quantization
    quant = None
    if q is not None and q.scale is not None and len(q.scale) and dt.is_int:
        scales = [float(s) for s in q.scale]
        zps = [int(z) for z in q.zeroPoint] if q.zeroPoint is not None and len(q.zeroPoint) else [0] * len(scales)
        if len(scales) == 1:
            quant = QuantParams.per_tensor(scales[0], zps[0])
        else:
            quant = QuantParams.per_axis(scales, zps, int(q.quantizedDimension))
    return TensorType(dt, shape, quant)


class _Reader:
    """Walks the operators in order; implements the op table's ``ReadCtx``."""

    def __init__(self, parsed: ParsedModel, name: str) -> None:
        self.p = parsed
        self.sg = parsed.subgraph
        self.graph = Graph(self._graph_name(name))
        self.values: dict[int, Value] = {}
        self.types = [_tensor_type(t, parsed.where) for t in (self.sg.tensors or [])]
        self.full_names = [tensor_name(t, f"t{i}") for i, t in enumerate(self.sg.tensors or [])]
        # TFLite's converter joins the names of fused TF ops with ';': the first names the op that produces
        # an activation; a constant's last part names its variable.
        self.names = [n.split(";")[0] or n for n in self.full_names]
        self._reserved: dict[int, str] = {}
        self.builtin = ""
        self.options: Any = None
        self._op: Any = None
        self._index = -1
        self._taken: set[str] = set()

    def _graph_name(self, stem: str) -> str:
        sg_name = self.sg.name.decode("utf-8", "replace") if isinstance(self.sg.name, bytes) else (self.sg.name or "")
        return sg_name or stem or "main"

    # -- driving ------------------------------------------------------------------------------

    def run(self) -> Graph:
        g = self.graph
        for k in [int(i) for i in (self.sg.inputs if self.sg.inputs is not None else [])]:
            if k in self.values:
                raise ModelLoadError(f"tensor {k} is listed twice as a model input", where=self.p.where)
            self.values[k] = g.add_input(self._fresh(self.names[k]), self.types[k])
        for i, op in enumerate(self.sg.operators or []):
            self._index, self._op = i, op
            self.builtin = self.p.op_name(op)
            self.options = op.builtinOptions
            self._reserved = {k: self._fresh(self.names[k]) for k in self.outputs() if 0 <= k < len(self.names)}
            m = optable.reader_for(self.builtin)
            if m is None:
                raise UnsupportedOpError(
                    f"TFLite operator {self.builtin} is not supported",
                    where=self._where(),
                    hint=f"tinyc reads: {', '.join(sorted(optable.READERS))}",
                )
            need = m.min_inputs.get(self.builtin, 1)
            ins = self.inputs()
            if len(ins) < need or any(k < 0 for k in ins[:need]) or len(self.outputs()) != 1:
                raise ModelLoadError(
                    f"{self.builtin} needs {need} input(s) and one output, the file gives {len(ins)} and {len(self.outputs())}",
                    where=self._where(),
                )
            self._check_quantized(ins)
            try:
                m.read(self, op)
            except ShapeError as exc:
                raise ModelLoadError(f"{self.builtin}: {exc.what}", where=self._where(), hint=exc.hint) from None
            for k in self.outputs():
                if k not in self.values:
                    raise ModelLoadError(f"{self.builtin} did not produce its output tensor {k}", where=self._where())
        outs = []
        for k in [int(i) for i in (self.sg.outputs if self.sg.outputs is not None else [])]:
            outs.append(self.value_required(k, "model output"))
        if not outs:
            raise ModelLoadError("the model has no outputs", where=self.p.where)
        g.outputs = outs
        log.info("tflite: read %d operators, %d tensors from %s", len(self.sg.operators or []), len(self.types), self.p.where)
        return g

    def _check_quantized(self, ins: list[int]) -> None:
        """int8/uint8/int16 tensors an arithmetic operator reads or writes carry quantization parameters.

        TFLite's kernels refuse them otherwise; without this check the model
        would load as a graph that no backend can run, and fail much later.
        """
        if self.builtin in _LAYOUT_OPS:
            return
        for k in [*ins, *self.outputs()]:
            if 0 <= k < len(self.types):
                t = self.types[k]
                if t.dtype in _QUANTIZED_DTYPES and t.quant is None:
                    raise self.bad(f"{t.dtype.short} tensor {k} ({self.names[k]}) has no quantization parameters (scale, zero point)")

    def _where(self) -> str:
        outs = self.outputs() if self._op is not None else []
        first = f" -> {self.names[outs[0]]}" if outs else ""
        return f"{self.p.where}: operator {self._index} ({self.builtin}{first})"

    def _fresh(self, name: str) -> str:
        base = name or "t"
        cand, i = base, 0
        while cand in self._taken:
            i += 1
            cand = f"{base}_{i}"
        self._taken.add(cand)
        return cand

    # -- ReadCtx ------------------------------------------------------------------------------

    def inputs(self) -> list[int]:
        return [int(k) for k in (self._op.inputs if self._op.inputs is not None else [])]

    def outputs(self) -> list[int]:
        return [int(k) for k in (self._op.outputs if self._op.outputs is not None else [])]

    def ttype(self, k: int) -> TensorType:
        if not 0 <= k < len(self.types):
            raise self.fail(f"missing input tensor (index {k})")
        return self.types[k]

    def const(self, k: int) -> np.ndarray | None:
        if not 0 <= k < len(self.types):
            return None
        data = buffer_bytes(self.p, self.sg.tensors[k].buffer)
        if data is None or not len(data):
            return None
        t = self.types[k]
        return np.frombuffer(data, dtype=t.dtype.numpy.newbyteorder("<")).astype(t.dtype.numpy).reshape(t.shape)

    def value(self, k: int) -> Value | None:
        if k < 0:
            return None
        v = self.values.get(k)
        if v is not None:
            return v
        data = self.const(k)
        if data is None:
            raise ModelLoadError(f"tensor {k} ({self.names[k]}) is read before it is computed", where=self._where())
        v = self.graph.add_const(self._fresh(self._const_name(k)), data, self.types[k].quant)
        self._taken.add(v.name)
        self.values[k] = v
        return v

    def _const_name(self, k: int) -> str:
        """A constant is named after the operator that first reads it: ``<its output>/weights``, ``/bias``, ..."""
        ins, outs = self.inputs(), self.outputs()
        if k not in ins or not outs:
            return self.names[k]
        pos = ins.index(k)
        role = _ROLES.get(self.builtin, {}).get(pos, f"input{pos}")
        return f"{self._reserved.get(outs[0], self.names[outs[0]])}/{role}"

    def value_required(self, k: int, what: str) -> Value:
        v = self.value(k)
        if v is None:
            raise ModelLoadError(f"{what} {k} is missing", where=self.p.where)
        return v

    def emit(self, op: str, inputs: Sequence[Value | None], attrs: Any = None, *, out: int) -> Value:
        want = self.types[out]
        v = self._add(op, inputs, attrs, want, self._reserved.get(out) or self._fresh(self.names[out]))
        self.values[out] = v
        return v

    def emit_tmp(self, op: str, inputs: Sequence[Value | None], attrs: Any, ttype: TensorType, hint: str) -> Value:
        outs = self.outputs()
        base = self.names[outs[0]] if outs else self.builtin.lower()
        return self._add(op, inputs, attrs, ttype, self._fresh(f"{base}/{hint}"))

    def _add(self, op: str, inputs: Sequence[Value | None], attrs: Any, want: TensorType, name: str) -> Value:
        opdef = OPS[op]
        attrs = opdef.Attrs() if attrs is None else attrs
        ins = list(inputs)
        while ins and ins[-1] is None:
            ins.pop()
        try:
            inferred = opdef.infer(attrs, ins)[0]
        except TinycError as exc:
            raise ModelLoadError(f"{self.builtin}: {exc.what}", where=self._where(), hint=exc.hint) from None
        if inferred.shape != want.shape or inferred.dtype is not want.dtype:
            raise ModelLoadError(
                f"{self.builtin}: the file says the output is {want}, but the operator computes {inferred}",
                where=self._where(),
                hint="the model's shapes are inconsistent; re-export it",
            )
        if inferred.quant is not None and want.quant != inferred.quant:
            raise ModelLoadError(
                f"{self.builtin}: output quantization {want.quant} differs from the {inferred.quant} TFLite requires for it",
                where=self._where(),
            )
        outs = self.outputs()
        loc = Loc.of(*(self.full_names[outs[0]].split(";") if outs else ()), f"{self.builtin}#{self._index}")
        node = self.graph.add_node(opdef, ins, attrs, name=name, loc=loc, output_names=[name], output_types=[want])
        self._taken.add(node.output.name)
        return node.output

    def fail(self, what: str, hint: str | None = None) -> UnsupportedOpError:
        return UnsupportedOpError(what, where=self._where(), hint=hint)

    def bad(self, what: str) -> ModelLoadError:
        return ModelLoadError(what, where=self._where(), hint="the file is not a valid TFLite model; re-export it")
