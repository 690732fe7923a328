"""``build_engine.sh``: the ``trtexec`` command that builds the engine on the Jetson, and the profile file.

The script runs from its own folder on the device. Precision flags follow
the compile: fp16 -> ``--fp16``; int8 -> ``--int8 --fp16`` (the Q/DQ pairs
fix the int8 layers; the rest may run in fp16, which DLA needs too); fp32 ->
no flag. ``--dla N`` adds ``--useDLACore=N --allowGPUFallback``; a dynamic
batch adds the optimisation profile's ``--minShapes/--optShapes/--maxShapes``.
"""

from __future__ import annotations

import json
from typing import Any

from tinyc.backends.tensorrt.profile import TrtProfile

PRECISION_FLAGS = {"fp32": "", "fp16": "--fp16", "int8": "--int8 --fp16"}


def shapes_flag(inputs: list[dict[str, Any]], batch: int) -> str:
    return ",".join(f"{v['name']}:{'x'.join(str(batch if i == 0 else d) for i, d in enumerate(v['shape']))}" for v in inputs)


def profile_json(inputs: list[dict[str, Any]], batch: tuple[int, int, int]) -> str:
    """profile.json: the optimisation profile's min/opt/max shape of every input."""
    data = {
        "profiles": [
            {v["name"]: {k: [b if i == 0 else d for i, d in enumerate(v["shape"])] for k, b in zip(("min", "opt", "max"), batch)} for v in inputs}
        ]
    }
    return json.dumps(data, indent=2) + "\n"


def build_script(profile: TrtProfile, precision: str, inputs: list[dict[str, Any]], *, model_file: str, dynamic_batch: tuple[int, int, int] | None, version: str) -> str:
    """The shell script's text."""
    flags = [f"--onnx={model_file}", '--saveEngine="$ENGINE"']
    if PRECISION_FLAGS[precision]:
        flags.append(PRECISION_FLAGS[precision])
    if dynamic_batch is not None:
        lo, opt, hi = dynamic_batch
        flags += [f"--minShapes={shapes_flag(inputs, lo)}", f"--optShapes={shapes_flag(inputs, opt)}", f"--maxShapes={shapes_flag(inputs, hi)}"]
    shapes = ", ".join(f"{v['name']} {'x'.join(str(d) for d in v['shape'])}" for v in inputs)
    dla_ok = profile.dla_cores > 0 and precision != "fp32" and dynamic_batch is None
    if profile.dla_cores == 0:
        dla_why = f"{profile.target} has no DLA"
    elif precision == "fp32":
        dla_why = "DLA runs fp16 or int8 only; this model was compiled for fp32"
    else:
        dla_why = "DLA needs static shapes; this model has a dynamic batch"
    lines = [
        "#!/bin/sh",
        f"# Build the TensorRT engine on the Jetson ({profile.target}: TensorRT {profile.tensorrt}, JetPack {profile.jetpack}).",
        f"# Written by tinyc {version}: precision {precision}, inputs {shapes}"
        + (f" (batch {dynamic_batch[0]}..{dynamic_batch[2]}, optimised for {dynamic_batch[1]}; see profile.json)" if dynamic_batch else " (static)"),
        "#",
        "# usage: ./build_engine.sh [--dla CORE] [more trtexec flags...]",
        "#   --dla CORE   build for DLA core CORE" + (f" (0..{profile.dla_cores - 1}), layers it cannot run fall back to the GPU" if dla_ok else f": not available ({dla_why})"),
        "#   TRTEXEC=...  the trtexec binary (default: trtexec on PATH, else /usr/src/tensorrt/bin/trtexec)",
        "#   ENGINE=...   the engine file to write (default model.engine, model.dlaN.engine with --dla)",
        "set -eu",
        'cd "$(dirname "$0")"',
        'if [ -z "${TRTEXEC:-}" ]; then',
        "  if command -v trtexec >/dev/null 2>&1; then TRTEXEC=trtexec; else TRTEXEC=/usr/src/tensorrt/bin/trtexec; fi",
        "fi",
        'DLA=""',
        'ENGINE="${ENGINE:-model.engine}"',
        'if [ "${1:-}" = "--dla" ]; then',
        '  if [ $# -lt 2 ]; then echo "build_engine.sh: --dla needs a core number" >&2; exit 2; fi',
    ]
    if dla_ok:
        lines += [
            '  case "$2" in',
            f"    {'|'.join(str(c) for c in range(profile.dla_cores))}) ;;",
            f'    *) echo "build_engine.sh: {profile.target} has DLA cores 0..{profile.dla_cores - 1}, not $2" >&2; exit 2 ;;',
            "  esac",
            '  DLA="--useDLACore=$2 --allowGPUFallback"',
            '  ENGINE="${ENGINE%.engine}.dla$2.engine"',
            "  shift 2",
        ]
    else:
        lines += [f'  echo "build_engine.sh: {dla_why}" >&2', "  exit 2"]
    lines += [
        "fi",
        "# shellcheck disable=SC2086",
        'exec "$TRTEXEC" ' + " ".join(flags) + ' $DLA "$@"',
    ]
    return "\n".join(lines) + "\n"
