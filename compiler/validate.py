"""``tinyc validate``: compile for an MCU target, run the C, compare with tinyc's integer reference and the float model.

    report = validate("model.onnx", target="stm32h7", on="qemu", random=16)
    print(report.text()); sys.exit(0 if report.ok else 1)

The generated code runs on the host (gcc) or on QEMU's Cortex-M7
(``mps2-an500``, arm-none-eabi-gcc), on int8 inputs through ``<name>_run``
and on float inputs through ``<name>_run_float``. Both must equal tinyc's
integer reference bit for bit. Against the float model (onnxruntime) the
report gives the max error, the cosine similarity and top-1 agreement.
On QEMU it also gives emulator instruction counts per inference and per
layer: deterministic counts of executed instructions, not Cortex-M7 cycles.

``run_on_target(build_dir, xs)`` runs an existing build on float samples
(the README demo uses it).
"""

from __future__ import annotations

import dataclasses
import logging
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tinyc.errors import InputError

log = logging.getLogger(__name__)

ON_CHOICES = ("host", "qemu")
EMULATOR_NOTE = "emulator instruction counts from QEMU -icount, not Cortex-M7 cycles"


@dataclass
class ValidationReport:
    """What ``validate`` found; ``ok`` is the verdict."""

    model: str
    target: str
    on: str
    samples: int
    build_dir: Path
    int8_mismatches: int = 0  # elements that differ from tinyc's integer reference
    float_mismatches: int = 0  # elements of <name>_run_float that differ from the dequantized reference
    max_lsb: int = 0
    float_model: str = "onnxruntime"
    max_abs_error: float | None = None
    cosine: float | None = None
    top1: float | None = None  # fraction of samples whose argmax agrees (classifiers)
    instructions: int | None = None  # per inference (first sample), emulator only
    layer_instructions: dict[int, int] = field(default_factory=dict)
    layers: list[dict[str, Any]] = field(default_factory=list)
    ram_bytes: int = 0
    flash_constants_bytes: int = 0
    compile_seconds: float = 0.0
    calibration: str = ""
    quantize: str = "int8"  # the scheme: int8, or int16x8 (int16 activations, int8 weights)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.int8_mismatches == 0 and self.float_mismatches == 0

    @property
    def outside_kernels(self) -> int | None:
        if self.instructions is None:
            return None
        return self.instructions - sum(self.layer_instructions.values())

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["build_dir"] = str(self.build_dir)
        d["ok"] = self.ok
        d["outside_kernels"] = self.outside_kernels
        d["layer_instructions"] = {str(k): v for k, v in self.layer_instructions.items()}
        return d

    def text(self) -> str:
        where = "host (gcc)" if self.on == "host" else "emulated Cortex-M7 (QEMU mps2-an500)"
        lines = [f"tinyc validate: {self.model} ({self.quantize}) for {self.target} on {where}, {self.samples} sample(s)"]
        if self.calibration:
            lines.append(f"  calibration: {self.calibration}")
        lines.append(f"  RAM {self.ram_bytes:,} B (arenas), flash {self.flash_constants_bytes:,} B of weights and tables; compiled in {self.compile_seconds:.2f} s")
        exact = "bit-exact" if self.ok else f"MISMATCH: {self.int8_mismatches} integer and {self.float_mismatches} float element(s) differ (max {self.max_lsb} LSB)"
        lines.append(f"  vs tinyc integer reference: {exact}")
        if self.max_abs_error is not None:
            parts = [f"max |error| {self.max_abs_error:.4g}", f"cosine {self.cosine:.6f}"]
            if self.top1 is not None:
                parts.append(f"top-1 agreement {self.top1:.1%}")
            lines.append(f"  vs float model ({self.float_model}): {', '.join(parts)}")
        if self.instructions is not None:
            outside = self.outside_kernels or 0
            lines.append(f"  {self.instructions:,} instructions per inference ({EMULATOR_NOTE})")
            lines.append(f"  outside kernel calls: {outside:,} ({outside / max(self.instructions, 1):.2%})")
            if self.layer_instructions:
                lines.append("  per layer:")
                by_index = {layer["index"]: layer for layer in self.layers}
                for idx, n in sorted(self.layer_instructions.items()):
                    layer = by_index.get(idx, {})
                    lines.append(f"    [{idx:>2}] {layer.get('op', '?'):<16} {layer.get('kernel', ''):<36} {n:>12,}  ({n / max(self.instructions, 1):6.1%})")
        lines += [f"  note: {n}" for n in self.notes]
        lines.append(f"verdict: {'PASS' if self.ok else 'FAIL'}")
        return "\n".join(lines)


# -- inputs ---------------------------------------------------------------------------------


def _stack_samples(arr: np.ndarray, shape: tuple[int, ...], name: str) -> np.ndarray:
    """``arr`` as [N, *shape]: one sample of ``shape``, a stack of them, or a stack of batch-less samples."""
    arr = np.asarray(arr)
    if tuple(arr.shape) == shape:
        return arr.reshape(1, *shape)
    if tuple(arr.shape[1:]) == shape:
        return arr
    if shape and shape[0] == 1 and tuple(arr.shape[1:]) == shape[1:]:
        return arr.reshape(arr.shape[0], *shape)
    raise InputError(f"input {name!r}: array of shape {list(arr.shape)} does not hold samples of shape {list(shape)}", hint=f"give [N, {', '.join(map(str, shape))}] or [N, {', '.join(map(str, shape[1:]))}]")


def read_samples(source: str | Path | np.ndarray | Mapping[str, np.ndarray], inputs: Sequence[tuple[str, tuple[int, ...]]]) -> dict[str, np.ndarray]:
    """Samples [N, *shape] per input from an array, a mapping, or a .npy / .npz file."""
    if isinstance(source, (str, Path)):
        p = Path(source)
        if not p.is_file():
            raise InputError(f"input file not found: {p}")
        try:
            if p.suffix == ".npz":
                with np.load(p, allow_pickle=False) as data:
                    source = {k: data[k] for k in data.files}
            else:
                source = np.load(p, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise InputError(f"cannot read {p}: {exc}", hint="give a .npy array or an .npz keyed by input name") from None
    arrays: Mapping[str, np.ndarray]
    if isinstance(source, np.ndarray):
        if len(inputs) != 1:
            raise InputError(f"one array given but the model takes {[n for n, _ in inputs]}", hint="use an .npz keyed by input name")
        arrays = {inputs[0][0]: source}
    else:
        assert not isinstance(source, (str, Path))
        arrays = source
    out = {}
    for name, shape in inputs:
        if name not in arrays:
            raise InputError(f"no samples for input {name!r}", hint=f"the model takes {[n for n, _ in inputs]}")
        out[name] = _stack_samples(np.asarray(arrays[name]), shape, name).astype(np.float32)
    counts = {a.shape[0] for a in out.values()}
    if len(counts) != 1:
        raise InputError(f"inputs have different sample counts {sorted(counts)}")
    return out


def quantize_like_onnx(x: np.ndarray, scale: float, zero_point: int, dtype: str = "i8") -> np.ndarray:
    """QuantizeLinear to int8 (``dtype`` "i16": int16): round half to even of x / scale (float32), plus the zero point, saturated."""
    q = np.rint(x.astype(np.float32) / np.float32(scale)).astype(np.float64) + zero_point
    if dtype == "i16":
        return np.clip(q, -32768, 32767).astype(np.int16)
    return np.clip(q, -128, 127).astype(np.int8)


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    return ((q.astype(np.int64) - zero_point).astype(np.float32) * np.float32(scale)).astype(np.float32)


# -- comparisons ---------------------------------------------------------------------------------


def float_agreement(got: Sequence[np.ndarray], want: Sequence[np.ndarray], *, classifier: bool = True) -> tuple[float, float, float | None]:
    """(max abs error, cosine similarity, top-1 agreement of output 0 for a classifier, else None)."""
    g = np.concatenate([np.asarray(a, np.float64).reshape(-1) for a in got])
    w = np.concatenate([np.asarray(a, np.float64).reshape(-1) for a in want])
    err = float(np.max(np.abs(g - w))) if g.size else 0.0
    denom = float(np.linalg.norm(g) * np.linalg.norm(w))
    cos = float(np.dot(g, w) / denom) if denom > 0 else (1.0 if np.allclose(g, w) else 0.0)
    top1 = None
    first_g, first_w = np.asarray(got[0]), np.asarray(want[0])
    if classifier and first_g.ndim >= 2 and first_g.shape[-1] > 1:
        n = first_g.shape[0]
        agree = np.argmax(first_g.reshape(n, -1, first_g.shape[-1]), -1) == np.argmax(first_w.reshape(n, -1, first_w.shape[-1]), -1)
        top1 = float(np.mean(agree))
    return err, cos, top1


def onnxruntime_outputs(path: Path, samples: Mapping[str, np.ndarray], input_shapes: Mapping[str, tuple[int, ...]]) -> list[np.ndarray]:
    """Float outputs of the ONNX model, sample by sample; [N, *shape] per output."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    n = next(iter(samples.values())).shape[0]
    rows: list[list[np.ndarray]] = []
    for k in range(n):
        feeds = {name: samples[name][k].reshape(input_shapes[name]) for name in samples}
        rows.append(sess.run(None, feeds))
    return [np.stack([r[o] for r in rows]) for o in range(len(rows[0]))] if rows else []


# -- running a build ------------------------------------------------------------------------------------


def _target_of(build_dir: Path, target: Any) -> Any:
    from tinyc.backends.cmsis_nn.harness import BuildInfo
    from tinyc.driver import resolve_target

    if target is not None:
        return resolve_target(target)
    return resolve_target(BuildInfo.read(build_dir).target)


def run_build(build_dir: str | Path, float_samples: Sequence[np.ndarray], *, on: str = "qemu", target: Any = None, work: Path | None = None, sanitize: bool = False) -> Any:
    """Build the harness for ``on`` and run it on float samples (one [N, *shape] array per input); returns RunResult."""
    from tinyc.backends.cmsis_nn.harness import BuildInfo, build_host, build_qemu, run_harness

    if on not in ON_CHOICES:
        raise InputError(f"unknown --on {on!r}", hint=f"choose one of {', '.join(ON_CHOICES)}")
    build = Path(build_dir)
    info = BuildInfo.read(build)
    if len(float_samples) != len(info.inputs):
        raise InputError(f"{len(float_samples)} input array(s) given, the model takes {len(info.inputs)}")
    fxs = [_stack_samples(np.asarray(x, np.float32), tuple(p["shape"]), p["name"]) for x, p in zip(float_samples, info.inputs)]
    xs = [quantize_like_onnx(x, p["scale"], p["zero_point"], p.get("dtype", "i8")) for x, p in zip(fxs, info.inputs)]
    with tempfile.TemporaryDirectory(prefix="tinyc-run-") as tmp:
        wdir = work or Path(tmp)
        if on == "qemu":
            exe = build_qemu(build, wdir, _target_of(build, target))
        else:
            exe = build_host(build, wdir, sanitize=sanitize)
        return run_harness(exe, info, wdir, xs, fxs, on=on)


def run_on_target(build_dir: str | Path, xs: np.ndarray | Sequence[np.ndarray], on: str = "qemu", *, target: Any = None) -> tuple[np.ndarray, str]:
    """Run a compiled model on float samples; returns (output 0 as float [N, ...], a description of where it ran).

    ``xs``: samples of the (only) input, [N, *shape] or [N, *shape without the batch of 1];
    a list of such arrays for several inputs. Outputs drop a batch dimension of 1.
    """
    samples = [xs] if isinstance(xs, np.ndarray) else list(xs)
    res = run_build(build_dir, samples, on=on, target=target)
    assert res.float_outputs is not None
    out = res.float_outputs[0]
    if out.ndim >= 2 and out.shape[1] == 1:
        out = out.reshape(out.shape[0], *out.shape[2:])
    if on == "qemu":
        n = res.instructions[0] if res.instructions else 0
        desc = f"emulated Cortex-M7 (QEMU mps2-an500), {n:,} instructions per inference ({EMULATOR_NOTE})"
    else:
        desc = "the host (generated C built with gcc)"
    return out, desc


# -- validate -------------------------------------------------------------------------------------------


def _compile_options(target: Any, calib: Any, quantize: str = "int8") -> Any:
    """Compile options for ``target`` (a name, a .toml path or a Target), quantizing (int8 or int16x8) with ``calib``."""
    from tinyc.driver import CompileOptions

    return CompileOptions(target=target, quantize=quantize, calib=calib)


def validate(
    model: str | Path,
    *,
    target: Any = "stm32h7",
    on: str = "host",
    inputs: str | Path | np.ndarray | Mapping[str, np.ndarray] | None = None,
    random: int | None = None,
    calib: Any = None,
    output_dir: str | Path | None = None,
    input_shapes: Mapping[str, tuple[int, ...]] | None = None,
    seed: int = 0,
    sanitize: bool = False,
    quantize: str = "int8",
) -> ValidationReport:
    """Compile ``model`` for ``target``, run it ``on`` the host or QEMU, compare (see the module doc)."""
    import tinyc
    from tinyc.driver import compile_model
    from tinyc.interpreter import run_graph

    if on not in ON_CHOICES:
        raise InputError(f"unknown --on {on!r}", hint=f"choose one of {', '.join(ON_CHOICES)}")
    path = Path(model)
    m = tinyc.load(path, input_shapes=dict(input_shapes or {}))
    ins = [(v.name, v.type.shape) for v in m.graph.inputs]
    float_shapes = dict(ins)
    if inputs is not None:
        data = read_samples(inputs, ins)
    else:
        n = random or 8
        rng = np.random.default_rng(seed)
        data = {name: rng.standard_normal((n, *shape)).astype(np.float32) for name, shape in ins}
    count = next(iter(data.values())).shape[0]
    calib_note = ""
    if calib is None:
        calib = {k: v for k, v in data.items()}
        calib_note = f"the {count} validation sample(s), where the model needs ranges (pass --calib for representative data)"
    else:
        calib = read_samples(calib, ins) if isinstance(calib, (str, Path, np.ndarray)) else calib
        calib_note = "from --calib"
    with tempfile.TemporaryDirectory(prefix="tinyc-validate-") as tmp:
        build = Path(output_dir) if output_dir is not None else Path(tmp) / "build"
        t0 = time.perf_counter()
        art = compile_model(m, output_dir=build, options=_compile_options(target, calib, quantize))
        compile_s = time.perf_counter() - t0
        rep = art.report
        graph = m.graph  # the integer graph the C implements
        in_ports, out_ports = rep["inputs"], rep["outputs"]
        fxs = [data[p["name"]] if p["name"] in data else data[ins[i][0]] for i, p in enumerate(in_ports)]
        xs = [quantize_like_onnx(x, p["scale"], p["zero_point"], p.get("dtype", "i8")) for x, p in zip(fxs, in_ports)]
        res = run_build(build, fxs, on=on, target=target, work=Path(tmp) / "work", sanitize=sanitize)
        want = [np.zeros_like(o) for o in res.outputs]
        for k in range(count):
            outs = run_graph(graph, {v.name: x[k] for v, x in zip(graph.inputs, xs)})
            for o, v in enumerate(graph.outputs):
                want[o][k] = outs[v.name]
        report = ValidationReport(str(path.name), rep["target"], on, count, build, calibration=calib_note, layers=rep["layers"], quantize=quantize)
        report.compile_seconds = compile_s
        report.ram_bytes = rep["totals"]["ram_bytes"]
        report.flash_constants_bytes = rep["totals"]["flash_constants_bytes"]
        for got, w, p, fgot in zip(res.outputs, want, out_ports, res.float_outputs or []):
            diff = np.abs(got.astype(np.int64) - w.astype(np.int64))
            report.int8_mismatches += int(np.count_nonzero(diff))
            report.max_lsb = max(report.max_lsb, int(diff.max()) if diff.size else 0)
            # <name>_run_float on the float samples vs the reference on the same quantized samples
            fref = dequantize(w, p["scale"], p["zero_point"])
            report.float_mismatches += int(np.count_nonzero(fgot != fref))
        if path.suffix.lower() == ".onnx" and res.float_outputs is not None:
            ref = onnxruntime_outputs(path, {name: data[name] for name, _ in ins}, float_shapes)
            got = [f.reshape(r.shape) for f, r in zip(res.float_outputs, ref)]
            classifier = graph.outputs[0].producer is not None and graph.outputs[0].producer.op.name in ("Softmax", "LogSoftmax")
            report.max_abs_error, report.cosine, report.top1 = float_agreement(got, ref, classifier=classifier)
        if on == "qemu" and res.instructions:
            report.instructions = res.instructions[0]
            report.layer_instructions = res.layer_instructions
        if output_dir is None:
            report.notes.append("build folder removed (pass -o to keep it)")
    return report


# -- CLI -------------------------------------------------------------------------------------------------


def add_parser(sub: Any) -> None:
    """Register ``tinyc validate`` on an argparse subparsers object."""
    p = sub.add_parser(
        "validate",
        help="compile, run the C (host or QEMU) and compare",
        description="Compile for an MCU target, run the generated C on the host or on QEMU's Cortex-M7, and compare it "
        "bit for bit with tinyc's integer reference and with the float model in onnxruntime.",
    )
    p.add_argument("model", help="model file (.onnx)")
    p.add_argument("--target", default="stm32h7", help="target name or .toml file (default stm32h7)")
    p.add_argument("--on", choices=ON_CHOICES, default="host", help="run on the host (gcc) or on QEMU mps2-an500 (arm-none-eabi-gcc)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--input", help=".npy (one input) or .npz by input name: samples [N, ...]")
    g.add_argument("--random", type=int, metavar="N", help="N random normal samples (default 8)")
    p.add_argument("--calib", help="calibration samples (.npy/.npz); default: the validation samples")
    p.add_argument("--quantize", choices=["int8", "int16x8"], default="int8", help="quantization scheme (default int8; int16x8: int16 activations, int8 weights)")
    p.add_argument("--input-shape", action="append", metavar="NAME=DIMS", help="fix an input's shape, e.g. input_1=1x49x10x1")
    p.add_argument("-o", "--output", help="keep the build folder here")
    p.add_argument("--seed", type=int, default=0, help="seed of --random")
    p.add_argument("--sanitize", action="store_true", help="host build with ASan/UBSan")
    p.add_argument("--json", action="store_true", help="machine-readable report")
    p.set_defaults(fn=cmd_validate)


def cmd_validate(args: Any) -> int:
    import json
    import sys

    from tinyc.cli import _parse_shape_arg

    shapes = _parse_shape_arg(args.input_shape)
    if "" in shapes:
        import tinyc

        m = tinyc.load(args.model)
        shapes = {m.graph.inputs[0].name: shapes.pop("")}
    report = validate(
        args.model, target=args.target, on=args.on, inputs=args.input, random=args.random, calib=args.calib,
        output_dir=args.output, input_shapes=shapes, seed=args.seed, sanitize=args.sanitize, quantize=args.quantize,
    )  # fmt: skip
    sys.stdout.write((json.dumps(report.to_json(), indent=2) if args.json else report.text()) + "\n")
    return 0 if report.ok else 1


__all__ = ["ValidationReport", "add_parser", "cmd_validate", "float_agreement", "read_samples", "run_build", "run_on_target", "validate"]
