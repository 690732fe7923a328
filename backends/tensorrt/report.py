"""The Jetson report: ops, per-layer precision, DLA placement and what falls back, as JSON and Markdown."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import onnx

from tinyc.backends.tensorrt.checker import describe_counts, int64_shape_initializers
from tinyc.backends.tensorrt.dla import DlaVerdict, dla_layers
from tinyc.backends.tensorrt.profile import TrtProfile

QDQ = ("QuantizeLinear", "DequantizeLinear")
# Layers that compute in int8 when every computed input comes through DequantizeLinear.
INT8_CAPABLE = frozenset({"Conv", "ConvTranspose", "Gemm", "MatMul", "Add", "MaxPool", "AveragePool", "GlobalAveragePool", "Concat"})
SHAPE_ONLY = frozenset({"Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze", "Identity"})
# Activations TensorRT fuses into the layer before them (they take its precision).
FUSED_ACTIVATIONS = frozenset({"Relu", "Clip", "LeakyRelu", "Sigmoid", "Tanh"})


@dataclass(frozen=True)
class Layer:
    name: str
    op: str
    output: str
    shape: list[int | str]
    precision: str


def _shapes(model: onnx.ModelProto) -> dict[str, list[int | str]]:
    inferred = onnx.shape_inference.infer_shapes(model)
    out: dict[str, list[int | str]] = {}
    for vi in (*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output):
        out[vi.name] = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in vi.type.tensor_type.shape.dim]
    return out


def layer_precisions(model: onnx.ModelProto, precision: str) -> list[Layer]:
    """Each node and the precision TensorRT computes it in (Q/DQ rows say what they quantize)."""
    inits = {t.name for t in model.graph.initializer}
    producer = {o: n for n in model.graph.node for o in n.output}
    shapes = _shapes(model)
    readers: dict[str, int] = {}
    for node in model.graph.node:
        for i in node.input:
            readers[i] = readers.get(i, 0) + 1
    layers: list[Layer] = []
    by_output: dict[str, Layer] = {}
    float_kind = "fp32" if precision == "fp32" else "fp16"
    for idx, node in enumerate(model.graph.node):
        out = node.output[0] if node.output else ""
        before = by_output.get(node.input[0]) if node.input else None
        if node.op_type in FUSED_ACTIVATIONS and before is not None and before.precision == "int8" and readers.get(node.input[0]) == 1:
            p = "int8 (fused into the layer before)"
        elif node.op_type == "QuantizeLinear":
            p = "int8 (quantize)"
        elif node.op_type == "DequantizeLinear":
            p = "int8 (dequantize, fused)"
        elif node.op_type in SHAPE_ONLY:
            p = "as its input"
        else:
            computed = [i for i in node.input if i and i not in inits]
            via_dq = computed and all(producer.get(i) is not None and producer[i].op_type == "DequantizeLinear" for i in computed)
            p = "int8" if precision == "int8" and via_dq and node.op_type in INT8_CAPABLE else float_kind
        layer = Layer(node.name or f"#{idx}", node.op_type, out, shapes.get(out, []), p)
        layers.append(layer)
        by_output[out] = layer
    return layers


def build_report(
    model: onnx.ModelProto,
    profile: TrtProfile,
    precision: str,
    *,
    source: str,
    dynamic_batch: tuple[int, int, int] | None,
    notes: list[str],
    files: list[str],
) -> dict[str, Any]:
    """Everything the report says, as plain data (report.json)."""
    layers = layer_precisions(model, precision)
    dla: list[DlaVerdict] = dla_layers(model, profile, precision, static=dynamic_batch is None)
    by_name = {v.node: v for v in dla}
    rows = []
    for layer in layers:
        v = by_name.get(layer.name)
        row: dict[str, Any] = {"name": layer.name, "op": layer.op, "output": layer.output, "shape": layer.shape, "precision": layer.precision}
        if profile.dla_cores:
            row["dla"] = None if v is None else v.on_dla
            if v is not None and not v.on_dla:
                row["dla_reason"] = v.reason
        rows.append(row)
    all_notes = list(notes)
    if precision == "int8" and not profile.fast_int8:
        all_notes.append(
            f"{profile.gpu} GPU ({profile.target}) has no fast int8: TensorRT runs int8 layers no faster than fp16 here; build in fp16 (--precision fp16)"
        )
    if not profile.int64_weights:
        shape_ints = int64_shape_initializers(model)
        if shape_ints:
            all_notes.append(
                f"{len(shape_ints)} INT64 shape operand(s) ({', '.join(shape_ints[:5])}{', ...' if len(shape_ints) > 5 else ''}) "
                f"must be INT64 in ONNX; TensorRT {profile.tensorrt} casts them to INT32 when parsing (their values fit)"
            )
    fallback = [v.node for v in dla if not v.on_dla]
    return {
        "model": source,
        "target": profile.target,
        "tensorrt": profile.tensorrt,
        "jetpack": profile.jetpack,
        "gpu": profile.gpu,
        "opset": int(model.opset_import[0].version),
        "precision": precision,
        "dynamic_batch": None if dynamic_batch is None else {"min": dynamic_batch[0], "opt": dynamic_batch[1], "max": dynamic_batch[2]},
        "inputs": [{"name": v.name, "shape": _dims(v), "dtype": onnx.TensorProto.DataType.Name(v.type.tensor_type.elem_type)} for v in model.graph.input],
        "outputs": [{"name": v.name, "shape": _dims(v), "dtype": onnx.TensorProto.DataType.Name(v.type.tensor_type.elem_type)} for v in model.graph.output],
        "ops": describe_counts(model),
        "layers": rows,
        "dla": {
            "cores": profile.dla_cores,
            "layers_on_dla": sum(1 for v in dla if v.on_dla),
            "layers_on_gpu": len(fallback),
            "gpu_fallback": fallback,
        }
        if profile.dla_cores
        else None,
        "checker": "passed",
        "notes": all_notes,
        "files": files,
    }


def _dims(vi: onnx.ValueInfoProto) -> list[int | str]:
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in vi.type.tensor_type.shape.dim]


def _shape_text(shape: list[int | str]) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def report_markdown(rep: dict[str, Any]) -> str:
    """report.md: the same facts for people."""
    lines = [
        f"# TensorRT-ready ONNX for {rep['target']}",
        "",
        f"- model: `{rep['model']}`",
        f"- TensorRT {rep['tensorrt']} (JetPack {rep['jetpack']}), {rep['gpu']} GPU; ONNX opset {rep['opset']}",
        f"- precision: **{rep['precision']}**" + (" (explicit symmetric Q/DQ; non-quantized layers fp16)" if rep["precision"] == "int8" else ""),
        "- inputs: " + ", ".join(f"`{v['name']}` {v['dtype']} {_shape_text(v['shape'])}" for v in rep["inputs"]),
        "- outputs: " + ", ".join(f"`{v['name']}` {v['dtype']} {_shape_text(v['shape'])}" for v in rep["outputs"]),
    ]
    if rep["dynamic_batch"]:
        b = rep["dynamic_batch"]
        lines.append(f"- dynamic batch: one optimisation profile, min {b['min']} / opt {b['opt']} / max {b['max']} (profile.json)")
    lines += ["- checker: all TensorRT rules pass (tinyc.backends.tensorrt.checker)", "", "## Ops", "", "| op | count |", "|---|---|"]
    lines += [f"| {op} | {n} |" for op, n in rep["ops"].items()]
    dla = rep["dla"]
    head = "| layer | op | output shape | precision |" + (" DLA |" if dla else "")
    lines += ["", "## Layers", "", head, "|---|---|---|---|" + ("---|" if dla else "")]
    for row in rep["layers"]:
        cell = ""
        if dla:
            cell = " — |" if row.get("dla") is None else (" yes |" if row["dla"] else f" no: {row.get('dla_reason', '')} |")
        lines.append(f"| `{row['name']}` | {row['op']} | {_shape_text(row['shape'])} | {row['precision']} |{cell}")
    if dla:
        lines += [
            "",
            "## DLA",
            "",
            f"{dla['cores']} DLA core(s). Built with `./build_engine.sh --dla 0`, {dla['layers_on_dla']} layer(s) would run on the DLA "
            f"and {dla['layers_on_gpu']} fall back to the GPU (estimated from TensorRT's documented DLA restrictions: "
            "fp16/int8 only, static shapes, per-layer limits; `trtexec --verbose` on the device shows the real placement).",
        ]
        if dla["gpu_fallback"]:
            lines += ["", "Falls back to the GPU: " + ", ".join(f"`{n}`" for n in dla["gpu_fallback"])]
    if rep["notes"]:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in rep["notes"]]
    lines += ["", "## Files", ""] + [f"- `{f}`" for f in rep["files"]]
    return "\n".join(lines) + "\n"
