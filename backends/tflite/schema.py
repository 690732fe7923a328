"""The TFLite flatbuffer as tinyc sees it: the generated schema, type maps, safe parsing, serialising.

The schema classes come from the ``ai-edge-litert`` package (its generated
``schema_py_generated`` module with the object API) and the ``flatbuffers``
runtime underneath; tinyc never writes flatbuffer bytes by hand.

``parse_model`` treats its input as untrusted: it bounds the work a crafted
file can cause before unpacking it, and checks every index, shape, size and
quantization parameter afterwards, so a bad file ends in a ``ModelLoadError``
that says what is wrong, never in a crash or an endless loop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from tinyc.errors import ModelLoadError, TinycError
from tinyc.ir.dtypes import DType

FILE_IDENTIFIER = b"TFL3"
SCHEMA_VERSION = 3
MAX_RANK = 8

_schema: ModuleType | None = None


def schema() -> ModuleType:
    """The generated TFLite schema module (object API), or a clear error when it is not installed."""
    global _schema
    if _schema is None:
        try:
            import flatbuffers  # noqa: F401
            from ai_edge_litert import schema_py_generated
        except ImportError:
            raise TinycError(
                "reading and writing .tflite files needs the ai-edge-litert and flatbuffers packages",
                hint="pip install 'tinyc[tflite]' (or: pip install ai-edge-litert flatbuffers)",
            ) from None
        _schema = schema_py_generated
    return _schema


# -- enums by name -------------------------------------------------------------------------


def _enum_names(cls: type) -> dict[int, str]:
    return {v: k for k, v in vars(cls).items() if not k.startswith("_") and isinstance(v, int)}


def builtin_code(name: str) -> int:
    """The BuiltinOperator value of ``name`` (e.g. ``"CONV_2D"``)."""
    return int(getattr(schema().BuiltinOperator, name))


def builtin_name(code: int) -> str:
    return _enum_names(schema().BuiltinOperator).get(int(code), f"BUILTIN_{code}")


def options_type(name: str) -> int:
    """The BuiltinOptions union tag of an options table name (e.g. ``"Conv2DOptions"``)."""
    return int(getattr(schema().BuiltinOptions, name))


def options_name(tag: int) -> str:
    return _enum_names(schema().BuiltinOptions).get(int(tag), f"OPTIONS_{tag}")


# TFLite TensorType name <-> tinyc DType (the types tinyc reads and writes).
_TYPES: dict[str, DType] = {
    "FLOAT32": DType.F32,
    "FLOAT16": DType.F16,
    "FLOAT64": DType.F64,
    "INT8": DType.I8,
    "UINT8": DType.U8,
    "INT16": DType.I16,
    "INT32": DType.I32,
    "INT64": DType.I64,
    "BOOL": DType.BOOL,
}


def dtype_of(tensor_type: int) -> DType | None:
    """tinyc's DType for a TFLite TensorType value (None for types tinyc does not handle)."""
    name = _enum_names(schema().TensorType).get(int(tensor_type))
    return _TYPES.get(name or "")


def tensor_type_name(tensor_type: int) -> str:
    return _enum_names(schema().TensorType).get(int(tensor_type), f"TYPE_{tensor_type}")


def tflite_type(dtype: DType) -> int:
    for name, dt in _TYPES.items():
        if dt is dtype:
            return int(getattr(schema().TensorType, name))
    raise TinycError(f"tensor type {dtype.short} has no TFLite equivalent")


# -- fused activations -------------------------------------------------------------------------

# ActivationFunctionType name -> the real clamp (act_min, act_max) it applies.
FUSED_CLAMPS: dict[str, tuple[float | None, float | None]] = {
    "NONE": (None, None),
    "RELU": (0.0, None),
    "RELU_N1_TO_1": (-1.0, 1.0),
    "RELU6": (0.0, 6.0),
}


def activation_name(code: int) -> str:
    return _enum_names(schema().ActivationFunctionType).get(int(code), f"ACTIVATION_{code}")


def activation_code(name: str) -> int:
    return int(getattr(schema().ActivationFunctionType, name))


# -- parsing untrusted bytes -----------------------------------------------------------------


@dataclass
class ParsedModel:
    """An unpacked, validated model with one subgraph."""

    model: Any  # schema.ModelT
    data: bytes
    where: str

    @property
    def subgraph(self) -> Any:
        return self.model.subgraphs[0]

    def op_name(self, op: Any) -> str:
        code = self.model.operatorCodes[op.opcodeIndex]
        return builtin_name(effective_builtin(code))


def effective_builtin(code: Any) -> int:
    """The builtin code of an OperatorCode: the larger of the deprecated byte field and the int field."""
    return max(int(code.builtinCode), int(code.deprecatedBuiltinCode))


def _bad(where: str, what: str, hint: str | None = None) -> ModelLoadError:
    return ModelLoadError(what, where=where, hint=hint or "the file is not a valid TFLite model; re-export it")


def _prescan(buf: bytes, where: str) -> None:
    """Bound the unpacking work: the vectors the object API will walk must fit in the file.

    Distinct elements of a legitimate file each take bytes of their own, so the
    element count the unpacker will visit is bounded by the file size; shared
    sub-objects in a crafted file could otherwise multiply it.
    """
    s = schema()
    limit = len(buf) // 2 + 64
    total = 0

    def count(n: int, what: str) -> None:
        nonlocal total
        if n < 0 or n * 4 > len(buf):
            raise _bad(where, f"{what} claims {n} entries, more than the file can hold")
        total += n
        if total > limit:
            raise _bad(where, "the model's tables refer to more entries than the file can hold (shared or overlapping vectors)")

    m = s.Model.GetRootAs(buf, 0)
    count(m.OperatorCodesLength(), "operator_codes")
    count(m.BuffersLength(), "buffers")
    count(m.MetadataLength(), "metadata")
    count(m.SignatureDefsLength(), "signature_defs")
    count(m.MetadataBufferLength(), "metadata_buffer")
    n_sub = m.SubgraphsLength()
    count(n_sub, "subgraphs")
    if n_sub != 1:
        raise ModelLoadError(
            f"the model has {n_sub} subgraphs; tinyc reads models with exactly one",
            where=where,
            hint="models with control flow (WHILE, IF, CALL_ONCE) or several entry points are not supported; export a single-graph model",
        )
    for i in range(m.SignatureDefsLength()):
        sd = m.SignatureDefs(i)
        count(sd.InputsLength(), "signature inputs")
        count(sd.OutputsLength(), "signature outputs")
    sg = m.Subgraphs(0)
    count(sg.TensorsLength(), "tensors")
    count(sg.InputsLength(), "subgraph inputs")
    count(sg.OutputsLength(), "subgraph outputs")
    count(sg.OperatorsLength(), "operators")
    for i in range(sg.TensorsLength()):
        t = sg.Tensors(i)
        count(t.ShapeLength(), f"tensor {i} shape")
        count(t.ShapeSignatureLength(), f"tensor {i} shape_signature")
        q = t.Quantization()
        if q is not None:
            count(q.ScaleLength() + q.ZeroPointLength() + q.MinLength() + q.MaxLength(), f"tensor {i} quantization")
    for i in range(sg.OperatorsLength()):
        op = sg.Operators(i)
        count(op.InputsLength() + op.OutputsLength() + op.IntermediatesLength(), f"operator {i} inputs/outputs")


def parse_model(data: bytes, where: str) -> ParsedModel:
    """Unpack and validate a .tflite flatbuffer; every problem is a ModelLoadError."""
    s = schema()
    buf = bytes(data)
    if len(buf) < 8:
        raise _bad(where, f"the file is {len(buf)} bytes long, too short for a TFLite flatbuffer")
    if buf[4:8] != FILE_IDENTIFIER:
        raise _bad(where, f"missing the TFLite file identifier {FILE_IDENTIFIER.decode()!r} (found {buf[4:8]!r})", "is this a .tflite file?")
    root = int.from_bytes(buf[0:4], "little")
    if root + 4 > len(buf):
        raise _bad(where, f"the root table offset {root} points past the end of the file ({len(buf)} bytes)")
    try:
        _prescan(buf, where)
        model = s.ModelT.InitFromObj(s.Model.GetRootAs(buf, 0))
    except ModelLoadError:
        raise
    except Exception as exc:  # a corrupt flatbuffer raises whatever the accessors hit first
        raise _bad(where, f"corrupt flatbuffer ({type(exc).__name__}: {exc})") from None
    parsed = ParsedModel(model, buf, where)
    _validate(parsed)
    return parsed


def _ints(v: Any) -> list[int]:
    return [] if v is None else [int(x) for x in v]


def _validate(p: ParsedModel) -> None:
    m, where = p.model, p.where
    if m.version != SCHEMA_VERSION:
        raise _bad(where, f"schema version {m.version}; tinyc reads version {SCHEMA_VERSION}")
    sg = m.subgraphs[0]
    tensors = sg.tensors or []
    buffers = m.buffers or []
    codes = m.operatorCodes or []
    n = len(tensors)
    for i, t in enumerate(tensors):
        tw = f"{where}: tensor {i} ({_name(t)})"
        shape = _ints(t.shape)
        if len(shape) > MAX_RANK:
            raise _bad(tw, f"rank {len(shape)} is above {MAX_RANK}")
        if any(d < 0 for d in shape):
            raise _bad(tw, f"negative dimension in shape {shape}", "tinyc needs static shapes; re-export with a fixed batch size")
        if dtype_of(t.type) is None:
            raise ModelLoadError(f"tensor type {tensor_type_name(t.type)} is not supported", where=tw, hint="tinyc reads float32/float16/int8/uint8/int16/int32/int64/bool tensors")
        if not 0 <= t.buffer < max(len(buffers), 1):
            raise _bad(tw, f"buffer index {t.buffer} is out of range (the model has {len(buffers)} buffers)")
        if t.sparsity is not None:
            raise ModelLoadError("sparse tensors are not supported", where=tw, hint="export the model with dense weights")
        _check_quant(t, shape, tw)
        data = buffer_bytes(p, t.buffer)
        if data is not None and len(data):
            dt = dtype_of(t.type)
            assert dt is not None
            want = math.prod(shape) * dt.itemsize
            if len(data) != want:
                raise _bad(tw, f"constant data is {len(data)} bytes; shape {shape} of {dt.short} needs {want}")
    for i, b in enumerate(buffers):
        if b.offset or b.size:
            if b.offset <= 1 or b.offset + b.size > len(p.data):
                raise _bad(where, f"buffer {i} points at bytes {b.offset}..{b.offset + b.size}, outside the file ({len(p.data)} bytes)")
    for i, c in enumerate(codes):
        if c.version < 1:
            raise _bad(where, f"operator code {i} has version {c.version}")
    produced: set[int] = set()
    for k in _ints(sg.inputs):
        if not 0 <= k < n:
            raise _bad(where, f"subgraph input {k} is not a tensor index (the model has {n} tensors)")
        produced.add(k)
    for i, op in enumerate(sg.operators or []):
        ow = f"{where}: operator {i}"
        if not 0 <= op.opcodeIndex < len(codes):
            raise _bad(ow, f"opcode index {op.opcodeIndex} is out of range ({len(codes)} operator codes)")
        for k in _ints(op.inputs):
            if not -1 <= k < n:
                raise _bad(ow, f"input tensor index {k} is out of range ({n} tensors)")
            if k >= 0 and k not in produced and not _is_constant(p, tensors[k]):
                raise _bad(ow, f"reads tensor {k} ({_name(tensors[k])}) before any operator produces it", "operators must be stored in execution order")
        for k in _ints(op.outputs):
            if not 0 <= k < n:
                raise _bad(ow, f"output tensor index {k} is out of range ({n} tensors)")
            if k in produced or _is_constant(p, tensors[k]):
                raise _bad(ow, f"writes tensor {k} ({_name(tensors[k])}), which already has a value")
            produced.add(k)
    for k in _ints(sg.outputs):
        if not 0 <= k < n:
            raise _bad(where, f"subgraph output {k} is not a tensor index (the model has {n} tensors)")
        if k not in produced and not _is_constant(p, tensors[k]):
            raise _bad(where, f"subgraph output {k} ({_name(tensors[k])}) is never computed")


def _check_quant(t: Any, shape: list[int], where: str) -> None:
    q = t.quantization
    if q is None or q.scale is None or len(q.scale) == 0:
        return
    scales = np.asarray(q.scale, dtype=np.float64)
    zps = np.asarray(q.zeroPoint if q.zeroPoint is not None and len(q.zeroPoint) else np.zeros(len(scales)), dtype=np.int64)
    if len(zps) != len(scales):
        raise _bad(where, f"quantization has {len(scales)} scales but {len(zps)} zero points")
    if not np.all(np.isfinite(scales)) or np.any(scales <= 0):
        raise _bad(where, "quantization scales must be finite and positive")
    dt = dtype_of(t.type)
    if dt is not None and dt.is_int and dt is not DType.I32 and dt is not DType.I64:
        if np.any(zps < dt.qmin) or np.any(zps > dt.qmax):
            raise _bad(where, f"zero point outside the {dt.short} range")
    if len(scales) > 1:
        axis = int(q.quantizedDimension)
        if not 0 <= axis < len(shape):
            raise _bad(where, f"quantized_dimension {axis} is out of range for shape {shape}")
        if shape[axis] != len(scales):
            raise _bad(where, f"{len(scales)} scales for dimension {axis} of size {shape[axis]}")


def _name(t: Any) -> str:
    return tensor_name(t, "?")


def tensor_name(t: Any, default: str) -> str:
    name = t.name.decode("utf-8", "replace") if isinstance(t.name, bytes) else (t.name or "")
    return name or default


def _is_constant(p: ParsedModel, t: Any) -> bool:
    data = buffer_bytes(p, t.buffer)
    return data is not None and len(data) > 0


def buffer_bytes(p: ParsedModel, index: int) -> bytes | None:
    """The bytes of buffer ``index`` (inline data, or an offset/size range after the flatbuffer)."""
    buffers = p.model.buffers or []
    if not 0 <= index < len(buffers):
        return None
    b = buffers[index]
    if b.offset or b.size:
        return p.data[b.offset : b.offset + b.size]
    if b.data is None:
        return None
    return np.asarray(b.data, dtype=np.uint8).tobytes()


# -- writing -------------------------------------------------------------------------------


def serialize(model: Any) -> bytes:
    """A ModelT as .tflite bytes (with the TFL3 identifier)."""
    import flatbuffers

    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=FILE_IDENTIFIER)
    return bytes(builder.Output())
