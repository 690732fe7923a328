"""CMSIS-NN backend benchmark: flash, RAM, emulator instructions and compile time for stm32h7.

    python bench/cmsis.py [--json] [--samples N]

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
- TFLM: TFLite Micro's arena for the same int8 model (../shared/models/README.md),
  head (activations) + tail (interpreter data); goal: ours below half of it;
- instructions per inference on QEMU mps2-an500 (emulator instruction counts,
  not Cortex-M7 cycles) and the share outside kernel calls (goal: under 1%);
- compile time of `tinyc compile` (import, pipeline, quantization, planning, C).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
MODELS = REPO.parent / "shared" / "models" / "mlperf-tiny"
TFLM_ARENA = {"kws": (24_272, 16_000, 8_272), "ad": (3_984, 768, 3_216)}  # total, head, tail


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
    if key in TFLM_ARENA:
        total, head, tail = TFLM_ARENA[key]
        row.update(tflm_arena=total, tflm_head=head, tflm_tail=tail, ram_vs_tflm=round(row["ram_bytes"] / total, 3))
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


def table(rows: list[dict[str, Any]]) -> str:
    head = ["model", "MACs", "flash: weights+tables", "code (model+kernels)", "RAM", "TFLM arena", "RAM/TFLM", "instructions", "outside kernels", "compile s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        code = f"{r.get('model_code', 0) + r.get('kernels_code', 0):,} ({r.get('model_code', 0):,}+{r.get('kernels_code', 0):,})" if "model_code" in r else "-"
        tflm = f"{r['tflm_arena']:,}" if "tflm_arena" in r else "-"
        ratio = f"{r['ram_vs_tflm']:.0%}" if "ram_vs_tflm" in r else "-"
        insn = f"{r['instructions']:,}" if "instructions" in r else "-"
        outside = f"{r['outside_kernels']:,} ({r['outside_share']:.2%})" if "outside_kernels" in r else "-"
        regions = ", ".join(f"{k} {v:,}" for k, v in r["ram_per_region"].items())
        lines.append(
            f"| {r['model']} | {r['macs']:,} | {r['weights_and_tables_bytes']:,} | {code} | {r['ram_bytes']:,} ({regions}) | {tflm} | {ratio} | {insn} | {outside} | {r['compile_s']:.2f} |"
        )
    lines.append("")
    lines.append("instructions: QEMU mps2-an500 with -icount shift=0 (emulator instruction counts, not Cortex-M7 cycles), first sample.")
    lines.append("RAM: all arenas (activations, kernel scratch, inputs and outputs); TFLM arena = head (activations) + tail (interpreter data).")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true", help="print the rows as JSON")
    ap.add_argument("--samples", type=int, default=3, help="inferences of the same input per model on QEMU (their counts agree)")
    args = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="tinyc-bench-cmsis-") as tmp:
        for key, path, calib in models():
            rows.append(bench_one(key, path, calib, args.samples, Path(tmp)))
    print(json.dumps(rows, indent=2) if args.json else table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
