"""Reports of the tflite backend: the model's operators, the Edge TPU mapping, the LiteRT/XNNPACK check.

``report.json`` holds everything; ``report.md`` is the same for people. The
XNNPACK section is measured, not claimed: the written model is loaded in the
LiteRT installed here with its default XNNPACK delegate, and the report lists
which operators the delegate took (XNNPACK's operator coverage is the same on
x86-64 and on the Cortex-A72 of a Raspberry Pi CM4).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterator
from typing import Any

import numpy as np

from tinyc.backends.tflite.edgetpu import EdgeTpuReport
from tinyc.backends.tflite.writer import Written

log = logging.getLogger(__name__)


def model_summary(w: Written) -> dict[str, Any]:
    """Sizes and operator counts of the written model."""
    weights = sum(int(np.asarray(d).nbytes) for d in w.constants.values())
    acts = sum(w.tensor_types[i].nbytes for i in range(len(w.tensor_types)) if i not in w.constants)
    ops: dict[str, int] = {}
    for op in w.ops:
        ops[op.builtin] = ops.get(op.builtin, 0) + 1
    io = [{"name": w.tensor_names[i], "type": str(w.tensor_types[i]), "quant": _quant(w, i)} for i in w.inputs]
    oo = [{"name": w.tensor_names[i], "type": str(w.tensor_types[i]), "quant": _quant(w, i)} for i in w.outputs]
    return {
        "bytes": len(w.data),
        "weight_bytes": weights,
        "activation_bytes_total": acts,
        "io_type": w.io_type,
        "inputs": io,
        "outputs": oo,
        "operators": len(w.ops),
        "operator_counts": ops,
        "opcodes": [{"builtin": b, "version": v} for b, v in w.opcodes],
        "precision": _precision(w),
        "float_ops": [op.builtin for op in w.ops if _is_float_op(w, op)],
        "rewrites": w.notes,
    }


def _is_float_op(w: Written, op: Any) -> bool:
    return any(w.tensor_types[i].dtype.is_float for i in (*op.inputs, *op.outputs) if i >= 0)


def _precision(w: Written) -> str:
    """"int8", "float", or "mixed" (int8 with float operators, QUANTIZE/DEQUANTIZE at the edges aside)."""
    floats = [op for op in w.ops if _is_float_op(w, op) and op.builtin not in ("QUANTIZE", "DEQUANTIZE")]
    ints = [op for op in w.ops if not _is_float_op(w, op)]
    if not floats:
        return "int8"
    return "mixed" if ints else "float"


def _quant(w: Written, i: int) -> dict[str, Any] | None:
    q = w.tensor_types[i].quant
    if q is None:
        return None
    return {"scale": q.scale[0], "zero_point": q.zero_point[0]} if q.is_per_tensor else {"scales": len(q.scale), "axis": q.axis}


def litert_check(data: bytes) -> dict[str, Any]:
    """Load the model in LiteRT (reference kernels), run it once on zeros; and see what XNNPACK delegates."""
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
    except ImportError:
        return {"ran": False, "note": "ai-edge-litert is not installed"}
    out: dict[str, Any] = {"ran": True}
    try:
        ref = Interpreter(model_content=data, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
        ref.allocate_tensors()
        for d in ref.get_input_details():
            ref.set_tensor(d["index"], np.zeros(d["shape"], dtype=d["dtype"]))
        ref.invoke()
        out["reference_kernels"] = "loaded and ran"
    except Exception as exc:  # LiteRT raises RuntimeError/ValueError with its own message
        out["reference_kernels"] = f"failed: {exc}"
        out["ok"] = False
        return out
    out["ok"] = True
    out["xnnpack"] = xnnpack_partitions(data)
    return out


@contextlib.contextmanager
def _quiet_native_stderr() -> Iterator[None]:
    """LiteRT's C++ prints "INFO: Created TensorFlow Lite XNNPACK delegate" on fd 2; keep it off the user's terminal."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def xnnpack_partitions(data: bytes) -> dict[str, Any]:
    """Which operators LiteRT's default XNNPACK delegate takes (measured on this host)."""
    from ai_edge_litert.interpreter import Interpreter

    try:
        with _quiet_native_stderr():
            it = Interpreter(model_content=data, num_threads=1)
            it.allocate_tensors()
        details = it._get_ops_details()  # the public API has no per-node view of delegation
    except Exception as exc:
        return {"note": f"could not inspect delegation: {exc}"}
    ops = [d for d in details if d["op_name"] != "DELEGATE"]
    parts = [d for d in details if d["op_name"] == "DELEGATE"]
    producer = {int(t): i for i, d in enumerate(ops) for t in d["outputs"]}
    covered: set[int] = set()
    for p in parts:
        stop = {int(t) for t in p["inputs"]}
        todo = [int(t) for t in p["outputs"]]
        while todo:
            t = todo.pop()
            i = producer.get(t)
            if i is None or i in covered or t in stop:
                continue
            covered.add(i)
            todo.extend(int(u) for u in ops[i]["inputs"] if int(u) >= 0)
    left = [f"{i}:{ops[i]['op_name']}" for i in range(len(ops)) if i not in covered]
    return {"partitions": len(parts), "delegated_ops": len(covered), "total_ops": len(ops), "not_delegated": left}


def report_json(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, default=str) + "\n"


def report_markdown(report: dict[str, Any]) -> str:
    m = report["model"]
    lines = [
        f"# {report['name']}.tflite for {report['target']}",
        "",
        f"{report['target_description']}",
        "",
        f"- file: `{report['file']}`, {m['bytes']:,} bytes (weights {m['weight_bytes']:,} B), {m['operators']} operators, {m['precision']}, I/O {m['io_type']}",
        f"- inputs: {_ports(m['inputs'])}",
        f"- outputs: {_ports(m['outputs'])}",
        f"- operator codes: {', '.join(str(c['builtin']) + ' v' + str(c['version']) for c in m['opcodes'])}",
    ]
    if m["precision"] == "mixed":
        lines.append(f"- float operators: {', '.join(m['float_ops'])}")
    for node, notes in m["rewrites"].items():
        lines.append(f"- rewrite at {node}: {'; '.join(notes)}")
    lt = report.get("litert", {})
    if lt.get("ran"):
        lines.append(f"- LiteRT (reference kernels): {lt.get('reference_kernels')}")
        x = lt.get("xnnpack") or {}
        if "delegated_ops" in x:
            left = ", ".join(x["not_delegated"]) or "none"
            lines.append(f"- LiteRT's XNNPACK delegate takes {x['delegated_ops']} of {x['total_ops']} operators in {x['partitions']} partition(s); on LiteRT's own kernels: {left}")
    et = report.get("edgetpu")
    if et is not None:
        lines += ["", "## Edge TPU mapping", "", edgetpu_text(et)]
    if "run" in report:
        lines += ["", "## Running it", "", *report["run"]]
    return "\n".join(lines) + "\n"


def _ports(ports: list[dict[str, Any]]) -> str:
    return ", ".join(f"{p['name']} {p['type']}" for p in ports)


def edgetpu_text(et: dict[str, Any]) -> str:
    total = len(et["ops"])
    if et["split_at"] is None:
        head = f"All {et['tpu_ops']} operators map to the Edge TPU" + (f" ({et['edge_ops']} float conversion(s) at the edges stay on the CPU)" if et["edge_ops"] else "") + "."
    else:
        first = et["ops"][et["split_at"]]
        head = f"{et['tpu_ops']} of {total} operators map to the Edge TPU; the model splits before operator {first['index']} ({first['builtin']}, node {first['node'] or '-'}): it and the {et['cpu_ops'] - 1} after it run on the CPU."
    rows = ["| # | operator | IR node | runs on | why |", "|---|---|---|---|---|"]
    for o in et["ops"]:
        why = "; ".join(o["reasons"]) or "-"
        rows.append(f"| {o['index']} | {o['builtin']} | {o['node'] or '-'} | {o['where']} | {why} |")
    sugg = []
    for o in et["ops"]:
        for s in o["suggestions"]:
            line = f"- operator {o['index']} ({o['builtin']}): {s}"
            if line not in sugg:
                sugg.append(line)
    notes = sorted({n for o in et["ops"] for n in o.get("notes", [])})
    parts = [head, "", *rows]
    if notes:
        parts += ["", "Notes:", "", *(f"- {n}" for n in notes)]
    if sugg:
        parts += ["", "Suggestions:", "", *sugg]
    c = et.get("compiler") or {}
    if c:
        parts += ["", f"Edge TPU compiler: `{c.get('command')}`"]
        if c.get("ran"):
            parts += [f"exit status {c.get('returncode')}; its log:", "", "```", (c.get("log") or "").rstrip(), "```"]
        elif c.get("note"):
            parts += ["", c["note"]]
    return "\n".join(parts)


def edgetpu_json(report: EdgeTpuReport) -> dict[str, Any]:
    return report.to_json()
