"""Reading ONNX files safely: size and format checks, external data kept in the model's folder."""

from __future__ import annotations

from pathlib import Path

import onnx
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from tinyc.errors import ModelLoadError


def read_model(path: Path) -> onnx.ModelProto:
    """Load, validate external data locations, check and shape-infer an ONNX model."""
    if not path.exists():
        raise ModelLoadError(f"model file not found: {path}", hint="check the path")
    if path.is_dir():
        raise ModelLoadError(f"{path} is a folder, not a model file")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf raises DecodeError and friends
        raise ModelLoadError(f"not a valid ONNX file ({type(exc).__name__}: {exc})", where=str(path), hint="is this an .onnx model? re-export it") from None
    _check_text(model, str(path))
    base = path.resolve().parent
    for tensor in _all_tensors(model):
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        loc = {e.key: e.value for e in tensor.external_data}.get("location", "")
        if "\0" in loc:
            raise ModelLoadError(
                f"external data location {loc!r} of tensor {tensor.name!r} contains a NUL byte",
                where=str(path),
                hint="the file is corrupt or crafted; external data files must be plain relative paths next to the model",
            )
        target = (base / loc).resolve()
        if not loc or Path(loc).is_absolute() or base not in target.parents:
            raise ModelLoadError(
                f"external data {loc!r} of tensor {tensor.name!r} points outside the model's folder",
                where=str(path),
                hint="keep external data files next to the model (relative paths inside its folder)",
            )
        if not target.is_file():
            raise ModelLoadError(f"external data file {loc!r} of tensor {tensor.name!r} is missing", where=str(path))
    try:
        onnx.load_external_data_for_model(model, str(base))
    except Exception as exc:
        raise ModelLoadError(f"cannot read external data: {exc}", where=str(path)) from None
    try:
        onnx.checker.check_model(model)
    except (onnx.checker.ValidationError, UnicodeDecodeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "invalid model"
        raise ModelLoadError(f"the ONNX checker rejects the model: {first}", where=str(path), hint="fix or re-export the model") from None
    return model


def _all_tensors(model: onnx.ModelProto) -> list[onnx.TensorProto]:
    out = list(model.graph.initializer)
    for node in model.graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.TENSOR:
                out.append(attr.t)
    return out


def _check_text(msg: Message, where: str, path: str = "model") -> None:
    """Every string field must be UTF-8 text: protobuf hands corrupt ones back as bytes.

    Names flow into the IR, error messages and generated code, so a corrupt
    one is refused here with where it sits rather than failing somewhere later.
    """
    for field, value in msg.ListFields():
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            items = value if _is_repeated(field) else [value]
            for i, item in enumerate(items):
                _check_text(item, where, f"{path}.{field.name}[{i}]" if _is_repeated(field) else f"{path}.{field.name}")
        elif field.type == FieldDescriptor.TYPE_STRING:
            items = value if _is_repeated(field) else [value]
            for item in items:
                if isinstance(item, bytes):
                    raise ModelLoadError(
                        f"{path}.{field.name} holds {item[:40]!r}, which is not UTF-8 text",
                        where=where,
                        hint="the file is corrupt; re-export the model",
                    )


def _is_repeated(field: FieldDescriptor) -> bool:
    flag = getattr(field, "is_repeated", None)  # protobuf >= 5; older versions only have ``label``
    return bool(flag) if flag is not None else field.label == FieldDescriptor.LABEL_REPEATED
