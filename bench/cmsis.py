"""CMSIS-NN backend benchmark: flash, RAM, emulator instructions and compile time for stm32h7.

    python bench/cmsis.py [--json] [--samples N] [--md [PATH]]

Rows: the magnet locator (trained on first use, seconds), the MLPerf Tiny
KWS DS-CNN and AD autoencoder (float ONNX from ../shared/models, quantized by
tinyc; skipped when absent), the vision CNN example (examples/vision_cnn,
exported on first use). Calibration: the magnet locator's calib set; for
KWS and AD, tools/calibration_data.py's synthetic features when available,
random samples otherwise (the figures here do not depend on accuracy).

Columns:
- flash: weights + tables (the model's constants) and code (the model's and
  the kernels'), from the linked Cortex-M7 image's map (arm-none-eabi-gcc -O2,
  --gc-sections), as arm-none-eabi-size would count them;
- RAM: every byte the generated code owns (arenas: activations, scratch,
  inputs/outputs; there is no other runtime state), per region;
- TFLM arena, same model: TensorFlow Lite Micro's arena MEASURED on the very
  int8 graph tinyc compiled (the graph after tinyc's quantization, as the
  C was generated from, written as .tflite by tinyc's TFLite backend), and
  RAM / that arena (goal: under 50%);
- TFLM, README: the arena quoted in ../shared/models/README.md for the
  benchmark's OWN int8 .tflite (KWS, AD; a different quantization of the same
  network), kept so both are visible;
- instructions per inference on QEMU mps2-an500 (emulator instruction counts,
  not Cortex-M7 cycles) and the share outside kernel calls (goal: under 1%);
- compile time of `tinyc compile` (import, pipeline, quantization, planning, C).

What the measured TFLM arena is (``tflm_arena_of``): the `tflite-micro` pip
package's interpreter (``tflite_micro.runtime.Interpreter``, reference
kernels, RecordingMicroAllocator) is created on the model with an ample
arena, which runs AllocateTensors (every op's Init and Prepare); then its
allocation report (``print_allocations``, printed by the C++ side on stderr,
captured here at the file-descriptor level) gives the bytes used:
- head: the non-persistent section, planned by TFLM's greedy memory planner:
  every activation tensor including the model's input and output, plus the
  scratch buffers kernels request in Prepare (few with the reference
  kernels; for the magnet locator, KWS and AD the head is exactly their
  largest set of simultaneously live tensors). This is what compares with
  tinyc's activation arena;
- tail: persistent data: one TfLiteEvalTensor per tensor, the TfLiteTensor
  structs for the I/O tensors and their quantization data, the kernels'
  op data ("persistent buffer data": per-channel output multipliers and
  shifts, folded zero-point terms, ...), one NodeAndRegistration per op,
  and the allocator's and interpreter's own bookkeeping (the remainder);
- total = head + tail, what a firmware must give as `tensor_arena`.
Differences from an MCU build: the Python build is 64-bit, so every struct
made of pointers is larger than on a Cortex-M (a TfLiteEvalTensor is 24 B
here, 12 B on a 32-bit core; nodes and registrations roughly halve too),
which makes the tail larger than on the MCU (the op data is mostly int32
arrays and does not shrink); and it uses the reference kernels, while an
MCU build with TFLM's CMSIS-NN kernels requests scratch buffers (im2col /
kernel-sum buffers for conv, depthwise and fully-connected) in the head,
which makes the head larger on the MCU. The table shows the head
separately. A model TFLM cannot load (an op it lacks, a tensor type it
refuses) gets the reason in the table instead of a figure.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
MODELS = REPO.parent / "shared" / "models" / "mlperf-tiny"
# TFLM's arena for the benchmark's own int8 .tflite files, as quoted in ../shared/models/README.md: total, head, tail
TFLM_ARENA = {"kws": (24_272, 16_000, 8_272), "ad": (3_984, 768, 3_216)}
README_FILES = {"kws": "kws_dscnn_int8.tflite", "ad": "ad_autoencoder_int8.tflite"}


@contextlib.contextmanager
def _captured_fds() -> Iterator[list[str]]:
    """Capture what C/C++ code writes to file descriptors 1 and 2 (TFLM prints its reports and errors there)."""
    out: list[str] = []
    sys.stdout.flush()
    sys.stderr.flush()
    with tempfile.TemporaryFile() as f:
        saved = [os.dup(1), os.dup(2)]
        try:
            os.dup2(f.fileno(), 1)
            os.dup2(f.fileno(), 2)
            yield out
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            f.seek(0)
            out.append(f.read().decode(errors="replace"))


_ALLOC_LINE = re.compile(r"Arena allocation (total|head|tail) (\d+) bytes")
_PART_LINE = re.compile(r"'([^']+)' used (\d+) bytes")


def tflm_arena_of(data: bytes) -> dict[str, Any]:
    """TFLite Micro's arena for the .tflite ``data``: {"total", "head", "tail", "tail_parts"} in bytes, measured by
    its Python interpreter (see the module doc), or {"error": reason} when TFLM cannot load the model or is absent."""
    try:
        from tflite_micro import runtime
    except ImportError as exc:
        return {"error": f"tflite-micro not installed ({exc})"}
    arena = (1 << 20) + 16 * len(data)
    while True:
        with _captured_fds() as log:
            try:
                it = runtime.Interpreter.from_bytes(data, arena_size=arena)
                failed: Exception | None = None
            except Exception as exc:  # TFLM raises RuntimeError with a generic message; the reason is in its log
                failed = exc
            if failed is None:
                it.print_allocations()
        text = log[0]
        if failed is None:
            break
        if "Failed to allocate" in text and arena < (1 << 30):
            arena *= 8
            continue
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        return {"error": "; ".join(dict.fromkeys(lines[:3])) or f"{type(failed).__name__}: {failed}"}
    sizes = {k: int(v) for k, v in _ALLOC_LINE.findall(text)}
    if set(sizes) != {"total", "head", "tail"}:
        return {"error": f"unexpected TFLM allocation report: {text.strip()[:200]!r}"}
    parts = {k: int(v) for k, v in _PART_LINE.findall(text)}
    parts["other (allocator, interpreter)"] = sizes["tail"] - sum(parts.values())
    return {**sizes, "tail_parts": parts}


def tflm_of_graph(graph: Any) -> dict[str, Any]:
    """TFLM's arena for tinyc's int8 ``graph`` written as .tflite by tinyc's TFLite backend (int8 I/O)."""
    from tinyc.backends.tflite.writer import write_graph
    from tinyc.errors import TinycError

    try:
        data = write_graph(graph).data
    except TinycError as exc:
        return {"error": f"tinyc's TFLite writer: {exc}"}
    return {**tflm_arena_of(data), "tflite_bytes": len(data)}


def _magnet() -> tuple[Path, Any] | None:
    art = REPO / "examples" / "magnet_locator" / "artifacts"
    model = art / "magnet_locator.onnx"
    if not model.exists():
        try:
            sys.path.insert(0, str(REPO))
            from examples.magnet_locator.train import build_model

            build_model(art)
        except ImportError as exc:  # torch missing
            print(f"skipping the magnet locator: {exc}", file=sys.stderr)
            return None
    return model, art / "calib.npz"


def _calib(which: str) -> Any:
    try:
        sys.path.insert(0, str(REPO))
        from tools import calibration_data  # type: ignore[import-not-found]

        fn = getattr(calibration_data, f"{which}_features", None)
        if fn is not None:
            return fn(32, seed=0)
    except ImportError:
        pass
    return "random"


def models() -> list[tuple[str, Path, Any]]:
    rows = []
    m = _magnet()
    if m is not None:
        rows.append(("magnet", m[0], m[1]))
    for key, fname in (("kws", "kws_dscnn_float.onnx"), ("ad", "ad_autoencoder_float.onnx")):
        path = MODELS / fname
        if path.exists():
            rows.append((key, path, _calib(key)))
        else:
            print(f"skipping {key}: {path} not found", file=sys.stderr)
    try:  # the vision CNN example (examples/vision_cnn: seeded MobileNetV2/V3-style classifier; needs torch)
        sys.path.insert(0, str(REPO))
        from examples.vision_cnn.model import CALIB_FILE, DEFAULT_OUT, MODEL_FILE, build_model

        vision = DEFAULT_OUT / MODEL_FILE if (DEFAULT_OUT / MODEL_FILE).exists() else build_model(DEFAULT_OUT)
        rows.append(("vision", vision, str(DEFAULT_OUT / CALIB_FILE)))
    except ImportError as exc:
        print(f"skipping the vision CNN: {exc}", file=sys.stderr)
    return rows


def bench_one(key: str, path: Path, calib: Any, samples: int, work: Path) -> dict[str, Any]:
    import tinyc
    from tinyc.backends.cmsis_nn.glue import runtime_dir
    from tinyc.backends.cmsis_nn.harness import BuildInfo, build_qemu, run_harness, size_breakdown
    from tinyc.driver import compile_model
    from tinyc.targets import load_target
    from tinyc.validate import _compile_options

    target = load_target("stm32h7")
    build = work / f"{key}_build"
    t0 = time.perf_counter()
    model = tinyc.load(path)
    art = compile_model(model, output_dir=build, options=_compile_options("stm32h7", calib))
    compile_s = time.perf_counter() - t0
    rep = art.report
    row: dict[str, Any] = {
        "model": key,
        "file": path.name,
        "compile_s": round(compile_s, 3),
        "macs": rep["totals"]["macs"],
        "layers": rep["totals"]["layers"],
        "ram_bytes": rep["totals"]["ram_bytes"],
        "ram_per_region": rep["ram_per_region"],
        "scratch_max_bytes": rep["totals"]["scratch_max_bytes"],
        "activation_lower_bound": rep["totals"]["activation_lower_bound_bytes"],
        "weights_and_tables_bytes": rep["totals"]["flash_constants_bytes"],
    }
    same = tflm_of_graph(model.graph)  # the graph the C was generated from (quantized, int8 I/O)
    row["tflm_same_model"] = same
    if "total" in same:
        row["ram_vs_tflm_same_model"] = round(row["ram_bytes"] / same["total"], 3)
    if key in TFLM_ARENA:  # README figures for the benchmark's own int8 model (keys kept for older readers)
        total, head, tail = TFLM_ARENA[key]
        row.update(tflm_arena=total, tflm_head=head, tflm_tail=tail, ram_vs_tflm=round(row["ram_bytes"] / total, 3))
        published = MODELS / README_FILES[key]
        if published.exists():  # re-measured now, to check the quote
            row["tflm_readme_remeasured"] = tflm_arena_of(published.read_bytes()).get("total")
    if shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None:
        row["note"] = "arm-none-eabi-gcc / qemu-system-arm missing: no flash or instruction figures"
        return row
    info = BuildInfo.read(build)
    elf = build_qemu(build, work / f"{key}_m7", target)
    sizes = size_breakdown(work / f"{key}_m7" / "harness_m7.map", info.prefix, [p.stem for p in (runtime_dir() / "src").glob("*.c")])
    row.update(sizes)
    row["flash_bytes"] = sum(sizes.values())
    rng = np.random.default_rng(0)
    xs = [np.repeat(rng.integers(-128, 128, size=(1, *p["shape"])).astype(np.int8), samples, axis=0) for p in info.inputs]
    res = run_harness(elf, info, work / f"{key}_m7", xs, on="qemu")
    total_insn = res.instructions[0]
    inside = sum(res.layer_instructions.values())
    row.update(
        instructions=total_insn,
        instructions_all_samples=sorted(set(res.instructions)),
        outside_kernels=total_insn - inside,
        outside_share=round((total_insn - inside) / total_insn, 5),
        instructions_per_mac=round(total_insn / max(row["macs"], 1), 2),
    )
    return row


def _tflm_cells(r: dict[str, Any]) -> tuple[str, str]:
    same = r.get("tflm_same_model") or {}
    if "total" not in same:
        reason = str(same.get("error", "not measured")).replace("|", "/")
        return f"n/a: {reason}", "-"
    return f"{same['total']:,} ({same['head']:,} + {same['tail']:,})", f"{r['ram_vs_tflm_same_model']:.0%}"


def table(rows: list[dict[str, Any]]) -> str:
    head = [
        "model",
        "MACs",
        "flash: weights+tables",
        "code (model+kernels)",
        "RAM",
        "TFLM arena, same model (head + tail)",
        "RAM/TFLM",
        "TFLM, README¹",
        "instructions",
        "outside kernels",
        "compile s",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        code = f"{r.get('model_code', 0) + r.get('kernels_code', 0):,} ({r.get('model_code', 0):,}+{r.get('kernels_code', 0):,})" if "model_code" in r else "-"
        tflm, ratio = _tflm_cells(r)
        readme = f"{r['tflm_arena']:,} ({r['tflm_head']:,} + {r['tflm_tail']:,}); RAM/it {r['ram_vs_tflm']:.0%}" if "tflm_arena" in r else "-"
        insn = f"{r['instructions']:,}" if "instructions" in r else "-"
        outside = f"{r['outside_kernels']:,} ({r['outside_share']:.2%})" if "outside_kernels" in r else "-"
        regions = ", ".join(f"{k} {v:,}" for k, v in r["ram_per_region"].items())
        lines.append(
            f"| {r['model']} | {r['macs']:,} | {r['weights_and_tables_bytes']:,} | {code} | {r['ram_bytes']:,} ({regions}) | {tflm} | {ratio} | {readme} | {insn} | {outside} | {r['compile_s']:.2f} |"
        )
    lines.append("")
    lines.append("instructions: QEMU mps2-an500 with -icount shift=0 (emulator instruction counts, not Cortex-M7 cycles), first sample.")
    lines.append("RAM: all of tinyc's arenas (activations, kernel scratch, inputs and outputs); nothing else is allocated at run time.")
    lines.append(
        "TFLM arena, same model: measured with the tflite-micro Python interpreter (64-bit host build, reference kernels) on tinyc's "
        "quantized graph written as .tflite; head = planned activations incl. input/output (+ kernel scratch), "
        "tail = persistent interpreter data (tensor and node structs, op data). On a 32-bit MCU the tail is smaller "
        "(pointer-sized fields halve), and with TFLM's CMSIS-NN kernels the head grows by their scratch buffers."
    )
    lines.append("")
    lines.append("Tail of the measured TFLM arena, by kind (bytes):")
    lines.append("")
    kinds: list[str] = []
    for r in rows:
        for k in (r.get("tflm_same_model") or {}).get("tail_parts", {}):
            if k not in kinds:
                kinds.append(k)
    lines.append("| model | " + " | ".join(kinds) + " |")
    lines.append("|" + "---|" * (len(kinds) + 1))
    for r in rows:
        parts = (r.get("tflm_same_model") or {}).get("tail_parts")
        if parts:
            lines.append(f"| {r['model']} | " + " | ".join(f"{parts[k]:,}" if k in parts else "-" for k in kinds) + " |")
    lines.append("")
    remeasured = [f"{r['model']} {r['tflm_readme_remeasured']:,}" for r in rows if r.get("tflm_readme_remeasured")]
    lines.append(
        "¹ TFLM, README: the arena quoted in ../shared/models/README.md for the benchmark's own int8 .tflite (MLPerf Tiny's "
        "quantization of the same network, not tinyc's), total (head + tail), and tinyc's RAM relative to it"
        + (f"; re-measured now on those files: {', '.join(remeasured)}." if remeasured else ".")
        + " The same-model tail is larger where tinyc quantizes fully-connected weights per channel (AD: every FC layer) and "
        "TFLM keeps a multiplier and shift per output channel in its persistent op data; tinyc keeps those tables in flash."
    )
    return "\n".join(lines)


def markdown(rows: list[dict[str, Any]], samples: int) -> str:
    return "\n".join(
        [
            "# CMSIS-NN backend benchmark (stm32h7): flash, RAM against TFLite Micro's arena, instructions",
            "",
            f"Generated by `python bench/cmsis.py --samples {samples} --md`; see the docstring of bench/cmsis.py for what each column counts.",
            "",
            table(rows),
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true", help="print the rows as JSON")
    ap.add_argument("--samples", type=int, default=3, help="inferences of the same input per model on QEMU (their counts agree)")
    ap.add_argument(
        "--md", type=Path, nargs="?", const=REPO / "bench" / "results" / "cmsis.md", help="also write the table as markdown (default bench/results/cmsis.md)"
    )
    args = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="tinyc-bench-cmsis-") as tmp:
        for key, path, calib in models():
            rows.append(bench_one(key, path, calib, args.samples, Path(tmp)))
    print(json.dumps(rows, indent=2) if args.json else table(rows))
    if args.md is not None:
        args.md.parent.mkdir(parents=True, exist_ok=True)
        args.md.write_text(markdown(rows, args.samples))
    return 0


if __name__ == "__main__":
    sys.exit(main())
