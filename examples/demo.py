"""The README's demo: the magnet locator, from training to the target.

    python -m examples.demo            (what `make demo` runs)

1. trains the 48-50-50-3 magnet-locator MLP (seconds) and exports ONNX;
2. loads it into tinyc, prints the per-layer table and the memory plan for stm32h7;
3. quantizes it to int8 with the calibration set, compiles it for stm32h7 and
   runs the generated C on the emulated Cortex-M7 (QEMU mps2-an500; on the host
   when the Arm toolchain is missing), printing predicted vs true magnet
   positions and the emulator's instruction count per inference.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import tinyc
from examples.magnet_locator.train import DEFAULT_OUT, MODEL_FILE, build_model
from tinyc.driver import CompileOptions
from tinyc.errors import TinycError

TARGET = "stm32h7"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where the model and build go")
    ap.add_argument("--samples", type=int, default=5, help="how many held-out samples to show")
    ap.add_argument("--retrain", action="store_true", help="train again even if the model exists")
    args = ap.parse_args(argv)

    model_path = args.out / MODEL_FILE
    if args.retrain or not model_path.exists():
        print(f"[1/3] training the magnet locator into {args.out} ...")
        t0 = time.perf_counter()
        build_model(args.out)
        print(f"      done in {time.perf_counter() - t0:.1f} s")
    else:
        print(f"[1/3] using {model_path} (--retrain to train again)")

    calib = args.out / "calib.npz"
    opts = CompileOptions(target=TARGET, quantize="int8", calib=str(calib))
    print(f"[2/3] tinyc analyze {model_path.name} --target {TARGET} --quantize int8 --calib {calib.name}")
    try:
        analysis = tinyc.analyze(model_path, options=opts)
    except TinycError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(analysis.text())

    evalset = np.load(args.out / "eval.npz")
    xs, truth = evalset["magnetometers"][: args.samples], evalset["position"][: args.samples]
    build = args.out / "build"
    print(f"[3/3] tinyc compile {model_path.name} --target {TARGET} --quantize int8 --calib {calib.name} -o {build}")
    try:
        art = tinyc.compile(model_path, output_dir=build, options=opts)
    except TinycError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    ram = art.report.get("ram_total_bytes") if isinstance(art.report, dict) else None
    print(f"      wrote {len(art.files)} files to {build}" + (f"; RAM {ram:,} B" if ram else ""))
    from tinyc.validate import run_on_target

    on = "qemu" if shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc") else "host"
    if on == "host":
        print("      arm-none-eabi-gcc / qemu-system-arm not found: running the generated C on the host instead")
    try:
        preds, where = run_on_target(build, xs.astype(np.float32), on=on)
    except TinycError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"\npredicted vs true magnet position (mm), {where}:")
    print(f"{'#':>3}  {'predicted x, y, z':>26}  {'true x, y, z':>26}  {'error':>7}")
    for i, (p, t) in enumerate(zip(preds, truth)):
        err = float(np.linalg.norm(p - t))
        print(f"{i:>3}  {p[0]:8.2f} {p[1]:8.2f} {p[2]:8.2f}  {t[0]:8.2f} {t[1]:8.2f} {t[2]:8.2f}  {err:6.2f}")
    errs = np.linalg.norm(np.asarray(preds) - truth, axis=1)
    print(f"mean error over {len(errs)} samples: {errs.mean():.2f} mm")
    return 0


if __name__ == "__main__":
    sys.exit(main())
