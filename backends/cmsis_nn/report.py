"""``report.json`` and ``report.md``: RAM per region, flash, MACs, per layer. Deterministic (no times, no paths)."""

from __future__ import annotations

import json
from typing import Any

from tinyc.backends.cmsis_nn.codegen import Generated
from tinyc.backends.cmsis_nn.emitter import comment_text
from tinyc.backends.cmsis_nn.glue import region_summary
from tinyc.targets import MemoryKind, Target, format_size

SCHEMA = "tinyc.cmsis-nn-report/1"


def build_report(prefix: str, model_name: str, source: str, target: Target, gen: Generated, plan: Any) -> dict[str, Any]:
    regions = region_summary(target, gen)
    ram = {k: v["arena"] + sum(a.nbytes for a in gen.arrays if a.ram and a.region == k) for k, v in regions.items() if target.region(k).kind is MemoryKind.RAM}
    flash_constants = sum(a.nbytes for a in gen.arrays)  # RAM-resident weights keep their flash copy
    layers = []
    for layer in gen.layers:
        node = layer.node
        layers.append(
            {
                "index": layer.index,
                "op": node.op.name,
                "node": node.name,
                "location": str(node.loc),
                "kernel": layer.kernel or None,
                "inputs": [str(v.type) for v in node.inputs if v is not None and not v.is_const],
                "outputs": [str(v.type) for v in node.outputs],
                "macs": layer.macs,
                "scratch_bytes": layer.scratch,
                "summary": layer.summary,
            }
        )
    return {
        "schema": SCHEMA,
        "model": model_name,
        "prefix": prefix,
        "source": source,
        "target": target.name,
        "cpu": str(target.cpu) if target.cpu else None,
        "inputs": [_port(p) for p in gen.inputs],
        "outputs": [_port(p) for p in gen.outputs],
        "totals": {
            "macs": sum(layer.macs for layer in gen.layers),
            "layers": len(gen.layers),
            "kernel_calls": sum(1 for layer in gen.layers if layer.kernel and layer.kernel != "memcpy"),
            "ram_bytes": sum(ram.values()),
            "arena_bytes": sum(a.size for a in gen.arenas),
            "scratch_max_bytes": max((layer.scratch for layer in gen.layers), default=0),
            "flash_constants_bytes": flash_constants,
            "weights_bytes": sum(a.nbytes for a in gen.arrays if not a.cname.endswith(("_multiplier", "_shift", "_lut"))),
            "activation_lower_bound_bytes": int(getattr(plan, "lower_bound", 0)),
        },
        "ram_per_region": ram,
        "regions": regions,
        "sections": dict(sorted({**{a.section: a.region for a in gen.arrays}, **{a.section: a.region for a in gen.arenas}}.items())),
        "layers": layers,
        "notes": [
            "flash_constants_bytes counts weights, biases, requantization tables and activation lookup tables; code size comes from the linker (arm-none-eabi-size).",
            "RAM is what tinyc's generated code owns: the arenas (activations, kernel scratch, inputs and outputs) and RAM copies of weights; there is no other runtime state.",
        ],
    }


def _port(p: Any) -> dict[str, Any]:
    t = p.value.type
    return {"name": p.name, "shape": list(t.shape), "dtype": t.dtype.short, "scale": p.scale, "zero_point": p.zero_point}


def report_json(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, sort_keys=False) + "\n"


def report_markdown(report: dict[str, Any]) -> str:
    t = report["totals"]
    out = [
        f"# {report['prefix']}: tinyc CMSIS-NN build for {report['target']}",
        "",
        f"Model `{report['model']}`" + (f" from `{report['source']}`" if report["source"] else "") + (f"; CPU {report['cpu']}." if report["cpu"] else "."),
        "",
        "| figure | value |",
        "|---|---|",
        f"| layers (kernel calls) | {t['layers']} ({t['kernel_calls']}) |",
        f"| MACs per inference | {t['macs']:,} |",
        f"| RAM owned by the model | {t['ram_bytes']:,} B |",
        f"| largest kernel scratch (inside the arena) | {t['scratch_max_bytes']:,} B |",
        f"| activation lower bound (this schedule) | {t['activation_lower_bound_bytes']:,} B |",
        f"| flash: weights, biases, tables | {t['flash_constants_bytes']:,} B |",
        "",
        "Code size is not included: measure it with `arm-none-eabi-size` on your firmware.",
        "",
        "## Memory per region",
        "",
        "| region | constants | arena | capacity |",
        "|---|---:|---:|---:|",
    ]
    for name, r in report["regions"].items():
        out.append(f"| {name} | {r['constants']:,} B | {r['arena']:,} B | {format_size(r['capacity'])} |")
    out += ["", "## Inputs and outputs", "", "| | name | shape | scale | zero point |", "|---|---|---|---|---:|"]
    for kind, ports in (("in", report["inputs"]), ("out", report["outputs"])):
        for i, p in enumerate(ports):
            out.append(f"| {kind}{i} | `{p['name']}` | {p['dtype']}{p['shape']} | {p['scale']!r} | {p['zero_point']} |")
    out += ["", "## Layers", "", "| # | op | node | kernel | shapes | MACs | scratch |", "|---:|---|---|---|---|---:|---:|"]
    for layer in report["layers"]:
        summary = comment_text(layer["summary"]).replace("|", "\\|")
        node = comment_text(layer["node"]).replace("|", "\\|")
        out.append(f"| {layer['index']} | {layer['op']} | `{node}` | {layer['kernel'] or '-'} | {summary} | {layer['macs']:,} | {layer['scratch_bytes']:,} |")
    out += ["", *[f"- {n}" for n in report["notes"]]]
    return "\n".join(out) + "\n"
