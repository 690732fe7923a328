"""Memory-planner benchmark: tinyc's activation plan against its lower bound and TFLM's figures.

    python bench/memory.py [--json]

Rows: the MLPerf Tiny float models (from ../shared/models, skipped when
absent) planned as float32 and with int8-sized activations (1 byte per
element: the figure TFLM's int8 arena head is compared with), the magnet
locator example when its model has been trained, synthetic branching CNNs
(residual, inception) built here, and a 500-node random DAG for the timing goal
(planning under 1 s). Planned bytes include graph inputs and outputs, as TFLM's
arena does.

The packing columns plan into one arena (a board with a single large RAM, 16-byte
alignment as TFLM uses), which is what TFLM's figure and the lower bound
describe; "aligned bound" is the lower bound with every size rounded up to the
alignment. The last column is the plan for the default board (stm32h7), where
what does not fit DTCM spills to the next regions; its time is the "ms" column.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
MODELS = REPO.parent / "shared" / "models" / "mlperf-tiny"
MAGNET = REPO / "examples" / "magnet_locator" / "artifacts" / "magnet_locator.onnx"

# TFLM's arena head (planned activations) for the int8 models, from ../shared/models/README.md
TFLM = {"kws": 16_000, "ad": 768}


def _conv(g, x, cout: int, k: int = 3, stride: int = 1, group: int = 1, name: str = ""):  # type: ignore[no-untyped-def]
    from tinyc.ir import get_op

    conv = get_op("Conv")
    cin = x.type.shape[1]
    rng = np.random.default_rng(len(g.nodes))
    w = g.add_const(f"{name}_w", (rng.standard_normal((cout, cin // group, k, k)) * 0.1).astype(np.float32))
    b = g.add_const(f"{name}_b", np.zeros(cout, np.float32))
    p = k // 2
    attrs = conv.Attrs(kernel_shape=(k, k), strides=(stride, stride), dilations=(1, 1), pads=(p, p, p, p), group=group)
    return g.add_node(conv, [x, w, b], attrs, name=name).output


def _relu(g, x, name: str):  # type: ignore[no-untyped-def]
    from tinyc.ir import get_op

    return g.add_node(get_op("Relu"), [x], name=name).output


def residual_cnn(blocks: int = 6, ch: int = 16, hw: int = 32):  # type: ignore[no-untyped-def]
    """ResNet-style: stem, then blocks of conv-relu-conv + skip, downsampling every other block."""
    from tinyc.ir import DType, Graph, TensorType, get_op

    g = Graph("residual_cnn")
    x = g.add_input("image", TensorType(DType.F32, (1, 3, hw, hw)))
    x = _relu(g, _conv(g, x, ch, name="stem"), "stem_relu")
    for i in range(blocks):
        stride = 2 if i % 2 == 1 else 1
        cout = x.type.shape[1] * stride
        h = _relu(g, _conv(g, x, cout, stride=stride, name=f"b{i}_conv1"), f"b{i}_relu1")
        h = _conv(g, h, cout, name=f"b{i}_conv2")
        skip = x if stride == 1 else _conv(g, x, cout, k=1, stride=2, name=f"b{i}_down")
        x = _relu(g, g.add_node(get_op("Add"), [h, skip], name=f"b{i}_add").output, f"b{i}_out")
    gap = g.add_node(get_op("GlobalAveragePool"), [x], name="gap").output
    g.outputs = [gap]
    return g


def inception_cnn(modules: int = 3, ch: int = 32, hw: int = 28):  # type: ignore[no-untyped-def]
    """GoogLeNet-style modules: 1x1, 1x1->3x3, 1x1->5x5 and pool->1x1 branches, concatenated."""
    from tinyc.ir import DType, Graph, TensorType, get_op

    g = Graph("inception_cnn")
    x = g.add_input("image", TensorType(DType.F32, (1, 3, hw, hw)))
    x = _relu(g, _conv(g, x, ch, name="stem"), "stem_relu")
    pool = get_op("MaxPool")
    for m in range(modules):
        c = x.type.shape[1]
        b1 = _relu(g, _conv(g, x, c // 2, k=1, name=f"m{m}_1x1"), f"m{m}_r1")
        b2 = _relu(g, _conv(g, _relu(g, _conv(g, x, c // 2, k=1, name=f"m{m}_3r"), f"m{m}_r2a"), c, k=3, name=f"m{m}_3x3"), f"m{m}_r2")
        b3 = _relu(g, _conv(g, _relu(g, _conv(g, x, c // 4, k=1, name=f"m{m}_5r"), f"m{m}_r3a"), c // 2, k=5, name=f"m{m}_5x5"), f"m{m}_r3")
        pattrs = pool.Attrs(kernel_shape=(3, 3), strides=(1, 1), dilations=(1, 1), pads=(1, 1, 1, 1))
        p = g.add_node(pool, [x], pattrs, name=f"m{m}_pool").output
        b4 = _relu(g, _conv(g, p, c // 2, k=1, name=f"m{m}_pp"), f"m{m}_r4")
        x = g.add_node(get_op("Concat"), [b1, b2, b3, b4], get_op("Concat").Attrs(axis=1), name=f"m{m}_cat").output
        if m % 2 == 1:
            pattrs = pool.Attrs(kernel_shape=(2, 2), strides=(2, 2), dilations=(1, 1), pads=(0, 0, 0, 0))
            x = g.add_node(pool, [x], pattrs, name=f"m{m}_down").output
    g.outputs = [g.add_node(get_op("GlobalAveragePool"), [x], name="gap").output]
    return g


def expand_branches(branches: int = 4, ch: int = 16, hw: int = 24):  # type: ignore[no-untyped-def]
    """Parallel inverted-bottleneck branches (1x1 expand to 6x channels, 3x3 depthwise, 1x1 reduce), concatenated."""
    from tinyc.ir import DType, Graph, TensorType, get_op

    g = Graph("expand_branches")
    x = g.add_input("image", TensorType(DType.F32, (1, 3, hw, hw)))
    x = _relu(g, _conv(g, x, ch, name="stem"), "stem_relu")
    outs = []
    for b in range(branches):
        h = _relu(g, _conv(g, x, 6 * ch, k=1, name=f"b{b}_expand"), f"b{b}_r1")
        h = _relu(g, _conv(g, h, 6 * ch, k=3, group=6 * ch, name=f"b{b}_dw"), f"b{b}_r2")
        outs.append(_conv(g, h, ch // 2, k=1, name=f"b{b}_reduce"))
    y = g.add_node(get_op("Concat"), outs, get_op("Concat").Attrs(axis=1), name="cat").output
    g.outputs = [g.add_node(get_op("GlobalAveragePool"), [y], name="gap").output]
    return g


def random_dag(n: int = 500, seed: int = 0):  # type: ignore[no-untyped-def]
    """Element-wise and concat/slice ops wired at random (fan-in from recent values, some long skips)."""
    from tinyc.ir import DType, Graph, TensorType, get_op

    rng = random.Random(seed)
    ops = {k: get_op(k) for k in ("Relu", "Add", "Mul", "Concat", "Slice")}
    g = Graph(f"random_dag_{n}")
    vals = [g.add_input("x", TensorType(DType.F32, (1, 64)))]
    while len(g.nodes) < n:
        i = len(g.nodes)
        a = rng.choice(vals[-8:] if rng.random() < 0.85 else vals)
        w = a.type.shape[1]
        r = rng.random()
        if r < 0.3:
            v = g.add_node(ops["Relu"], [a], name=f"n{i}").output
        elif r < 0.6:
            b = rng.choice([v for v in vals if v.type.shape == a.type.shape])
            v = g.add_node(ops["Add" if r < 0.45 else "Mul"], [a, b], name=f"n{i}").output
        elif r < 0.75 and w <= 512:
            v = g.add_node(ops["Concat"], [a, rng.choice(vals)], ops["Concat"].Attrs(axis=1), name=f"n{i}").output
        else:
            keep = max(16, w // 2)
            v = g.add_node(ops["Slice"], [a], ops["Slice"].Attrs(starts=(0,), ends=(keep,), axes=(1,), steps=(1,)), name=f"n{i}").output
        vals.append(v)
    used = {id(v) for node in g.nodes for v in node.inputs if v is not None}
    g.outputs = [v for v in vals[1:] if id(v) not in used]
    return g


def breadth_first(build: Callable[[], object]) -> Callable[[], object]:
    """The same graph with its nodes in breadth-first (level by level) order, as some exporters write them."""

    def make():  # type: ignore[no-untyped-def]
        from collections import deque

        g = build()
        nodes = list(g.nodes)  # type: ignore[attr-defined]
        preds = {n: {v.producer for v in n.inputs if v is not None and v.producer is not None} for n in nodes}
        users = {n: [m for m in nodes if n in preds[m]] for n in nodes}
        waiting = {n: len(preds[n]) for n in nodes}
        queue = deque(n for n in nodes if not preds[n])
        order = []
        while queue:
            n = queue.popleft()
            order.append(n)
            for m in users[n]:
                waiting[m] -= 1
                if waiting[m] == 0:
                    queue.append(m)
        g.set_order(order)  # type: ignore[attr-defined]
        g.name += " (breadth-first)"  # type: ignore[attr-defined]
        return g

    return make


def _load_onnx(path: Path, fold: bool = True):  # type: ignore[no-untyped-def]
    import logging

    from tinyc.frontends.onnx import load_onnx
    from tinyc.passes.fold import fold_dequantize_weights

    logging.getLogger("tinyc").setLevel(logging.ERROR)
    g = load_onnx(path)
    if fold:
        fold_dequantize_weights(g)  # weights as constants, as in the TFLite model TFLM runs
    return g


def cases() -> list[tuple[str, Callable[[], object], bool, int | None]]:
    """(row name, graph builder, int8-sized activations, TFLM figure)."""
    out: list[tuple[str, Callable[[], object], bool, int | None]] = []
    for key, file in (("kws", "kws_dscnn_float.onnx"), ("ad", "ad_autoencoder_float.onnx")):
        path = MODELS / file
        if path.exists():
            out.append((f"{key} float32", lambda p=path: _load_onnx(p), False, None))
            out.append((f"{key} int8 sizes", lambda p=path: _load_onnx(p), True, TFLM[key]))
            if key == "kws":  # weights dequantized at run time: the order matters
                out.append(("kws float32, DQ nodes kept", lambda p=path: _load_onnx(p, fold=False), False, None))
        else:
            print(f"# {file} not found under {MODELS}: skipped", file=sys.stderr)
    if MAGNET.exists():
        out.append(("magnet_locator float32", lambda: _load_onnx(MAGNET), False, None))
        out.append(("magnet_locator int8 sizes", lambda: _load_onnx(MAGNET), True, None))
    else:
        print("# magnet locator model not trained (python -m examples.magnet_locator.train): skipped", file=sys.stderr)
    out.append(("residual CNN float32", residual_cnn, False, None))
    out.append(("residual CNN int8 sizes", residual_cnn, True, None))
    out.append(("inception CNN float32", inception_cnn, False, None))
    out.append(("inception CNN int8 sizes", inception_cnn, True, None))
    out.append(("expand branches int8", expand_branches, True, None))
    out.append(("expand branches int8, BFS order", breadth_first(expand_branches), True, None))
    out.append(("random DAG (500 nodes)", random_dag, False, None))
    return out


ONE_ARENA = {
    "name": "one-arena",
    "backend": {"name": "cmsis_nn"},
    "memory": [
        {"name": "FLASH", "base": 0x08000000, "size": "1G", "kind": "flash", "section": ".rodata"},
        {"name": "ARENA", "base": 0x60000000, "size": "1G", "kind": "ram", "section": ".bss", "align": 16},
    ],
}


def run() -> list[dict[str, object]]:
    from tinyc.memory import PlanOptions, plan_memory
    from tinyc.memory.liveness import lower_bound
    from tinyc.targets import load_target, target_from_dict

    board = load_target("stm32h7")
    one = target_from_dict(ONE_ARENA)
    rows = []
    for name, build, int8, tflm in cases():
        graph = build()
        opts = PlanOptions(size_of=(lambda v: v.type.numel) if int8 else None)
        plan = plan_memory(graph, one, options=opts)  # type: ignore[arg-type]
        plan_memory(graph, board, options=opts)  # type: ignore[arg-type]  # warm-up
        t0 = time.perf_counter()
        on_board = plan_memory(graph, board, options=opts)  # type: ignore[arg-type]
        ms = (time.perf_counter() - t0) * 1000
        rows.append(
            {
                "model": name,
                "nodes": len(graph.nodes),  # type: ignore[attr-defined]
                "planned": plan.activation_bytes,
                "lower_bound": plan.lower_bound,
                "ratio": plan.ratio,
                "aligned_bound": lower_bound(plan.regions["ARENA"].buffers, 16)[0],
                "given_order_bound": plan.original_lower_bound,
                "order": plan.schedule_method,
                "ms": ms,
                "tflm": tflm,
                "stm32h7": {rp.name: rp.arena_bytes for rp in on_board.regions.values() if rp.arena_bytes},
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(REPO))
    rows = run()
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    header = ["model", "nodes", "tinyc plan", "lower bound", "ratio", "aligned bound", "given order bound", "order", "ms", "TFLM", "stm32h7 arenas"]
    table = [
        [
            str(r["model"]),
            str(r["nodes"]),
            f"{r['planned']:,}",
            f"{r['lower_bound']:,}",
            f"{r['ratio']:.3f}",
            f"{r['aligned_bound']:,}",
            f"{r['given_order_bound']:,}",
            str(r["order"]),
            f"{r['ms']:.1f}",
            "-" if r["tflm"] is None else f"{r['tflm']:,}",
            " + ".join(f"{k} {v:,}" for k, v in r["stm32h7"].items()),  # type: ignore[attr-defined]
        ]
        for r in rows
    ]
    widths = [max(len(c) for c in col) for col in zip(header, *table)]
    left = (0, 7, 10)
    print("bytes of activations (graph inputs and outputs included); ms: planning for stm32h7")
    print("  ".join(h.ljust(w) if i in left else h.rjust(w) for i, (h, w) in enumerate(zip(header, widths))).rstrip())
    print("  ".join("-" * w for w in widths))
    for row in table:
        print("  ".join(c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))).rstrip())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
