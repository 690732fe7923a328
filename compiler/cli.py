"""The ``tinyc`` command line: a thin layer over ``tinyc.api``.

Errors a user can cause print as ``error: ...`` on stderr with no traceback
and exit 1; a bad command line exits 2; an internal error exits 70 and says
how to get the traceback (TINYC_DEBUG=1).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tinyc import __version__
from tinyc.errors import InputError, TinycError

EXAMPLES = """\
examples:
  tinyc ir model.onnx                         print the IR
  tinyc run model.onnx --input x.npy --output y.npy
  tinyc analyze model.onnx --target stm32h7   per-layer table and memory plan
  tinyc compile model.onnx --target stm32h7 -o build/
  tinyc run model.onnx --quantize int8 --calib calib.npz --input x.npy
  tinyc analyze model.onnx --quantize int8 --calib calib.npz --eval eval.npz
  tinyc targets                               list the boards tinyc knows
"""


def _parse_shape_arg(items: Sequence[str] | None) -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {}
    for item in items or []:
        name, sep, dims = item.rpartition("=")
        if not sep:
            name, dims = "", item
        try:
            shape = tuple(int(d) for d in dims.lower().replace(",", "x").split("x") if d)
            if not shape or any(d <= 0 for d in shape):
                raise ValueError
        except ValueError:
            raise InputError(f"bad --input-shape {item!r}", hint="write it as NAME=1x49x10x1 (positive integers joined by x)") from None
        shapes[name] = shape
    return shapes


def _add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="model file (.onnx)")
    p.add_argument("--input-shape", action="append", metavar="NAME=DIMS", help="fix an input's shape, e.g. input_1=1x49x10x1 (repeatable)")


def _add_pass_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("pass pipeline debugging")
    g.add_argument("--print-ir-after-all", action="store_true", help="print the IR after every pass (stderr)")
    g.add_argument("--print-ir-after-change", action="store_true", help="print the IR after passes that changed it (stderr)")
    g.add_argument("--verify-each", action="store_true", help="run the IR verifier after every pass")
    g.add_argument("--time-passes", action="store_true", help="print per-pass timings (stderr)")


def _pass_options(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from tinyc.passes import PassOptions

    return PassOptions(
        print_ir_after_all=args.print_ir_after_all,
        print_ir_after_change=args.print_ir_after_change,
        verify_each=args.verify_each,
        time_passes=args.time_passes,
        out=sys.stderr,
    )


def _load(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from tinyc.api import load

    shapes = _parse_shape_arg(args.input_shape)
    if "" in shapes:
        model = load(args.model)
        if len(model.graph.inputs) != 1:
            raise InputError("--input-shape without a name needs a single-input model", hint=f"name it: {model.input_names[0]}=...")
        shapes = {model.graph.inputs[0].name: shapes.pop("")}
    return load(args.model, input_shapes=shapes)


def _read_inputs(path: str, input_names: list[str]) -> dict[str, np.ndarray]:
    p = Path(path)
    if not p.exists():
        raise InputError(f"input file not found: {p}")
    try:
        if p.suffix == ".npz":
            with np.load(p, allow_pickle=False) as data:
                return {k: data[k] for k in data.files}
        arr = np.load(p, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise InputError(f"cannot read {p}: {exc}", hint="give a .npy array or an .npz keyed by input name (pickled objects are refused)") from None
    if len(input_names) != 1:
        raise InputError(f"{p} holds one array but the model takes {input_names}", hint="use an .npz keyed by input name")
    return {input_names[0]: arr}


def _write_outputs(path: str, outputs: dict[str, np.ndarray]) -> None:
    p = Path(path)
    if p.suffix == ".npz":
        np.savez(p, **outputs)
    else:
        if len(outputs) != 1:
            raise InputError(f"the model has {len(outputs)} outputs", hint="write them to an .npz")
        np.save(p, next(iter(outputs.values())))


# -- commands -------------------------------------------------------------------


def cmd_ir(args: argparse.Namespace) -> int:
    model = _load(args)
    if args.pipeline:
        from tinyc.driver import prepare_graph

        prepare_graph(model, target=args.target, pass_options=_pass_options(args))
    sys.stdout.write(model.ir(elide_constants_over=None if args.full else 64))
    return 0


def _add_quant_args(p: argparse.ArgumentParser, *, eval_set: bool = False) -> None:
    g = p.add_argument_group("quantization (TFLite-exact integer semantics, see docs/quantization.md)")
    g.add_argument("--quantize", choices=["int8", "int16x8"], help="post-training quantization: int8, or int16 activations with int8 weights")
    g.add_argument("--calib", metavar="DATA", help="calibration data: .npz keyed by input name (one sample per row), .npy, a folder of .npy samples, or 'random' (smoke tests only)")
    g.add_argument("--observer", choices=["minmax", "percentile", "mse"], default="minmax", help="how activation ranges are chosen (default minmax)")
    g.add_argument("--int-io", action="store_true", help="integer graph inputs and outputs (no quantize/dequantize at the edges)")
    if eval_set:
        g.add_argument("--eval", metavar="DATA", help="measure quantization error on this data (default: the calibration data)")


def _quant_options(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """QuantOptions from the command line, or None without --quantize."""
    if not args.quantize:
        given = [f for f, v in (("--calib", args.calib), ("--int-io", args.int_io), ("--eval", getattr(args, "eval", None))) if v]
        if given:
            raise InputError(f"{', '.join(given)} only apply with --quantize", hint="add --quantize int8 (or int16x8)")
        return None
    from tinyc.quant.quantizer import QuantOptions

    if args.calib == "random":
        print("warning: --calib random: activation ranges come from random noise, not from your data;", file=sys.stderr)
        print("warning: the quantized model's accuracy says nothing about real inputs. Use real samples for anything but a smoke test.", file=sys.stderr)
    return QuantOptions(scheme=args.quantize, observer=args.observer, int_io=args.int_io)


def cmd_run(args: argparse.Namespace) -> int:
    from tinyc.api import run

    model = _load(args)
    qopts = _quant_options(args)
    if qopts is not None:
        from tinyc.quant.api import quantize_model

        model, _ = quantize_model(model, args.calib, options=qopts)
        if qopts.int_io:
            for v in model.graph.inputs:
                q = v.type.quant
                if q is not None:
                    print(f"input {v.name}: {v.type.dtype.short}, real = {q.scale[0]:.9g} * (q - {q.zero_point[0]})", file=sys.stderr)
    inputs = _read_inputs(args.input, model.input_names)
    outputs = run(model, inputs)
    if args.output:
        _write_outputs(args.output, outputs)
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        np.set_printoptions(precision=5, suppress=True, threshold=64)
        for name, arr in outputs.items():
            print(f"{name}: {arr.dtype}{list(arr.shape)}")
            print(arr)
    return 0


def cmd_analyze(args: argparse.Namespace) -> int:
    from tinyc.driver import analyze
    from tinyc.memory.cliargs import plan_options_from_args

    model = _load(args)
    qopts = _quant_options(args)
    if qopts is not None:
        return _analyze_quantized(args, model, qopts)
    result = analyze(model, target=args.target, pass_options=_pass_options(args), memory_plot=args.memory_plot, plan_options=plan_options_from_args(args))
    if args.json:
        json.dump(result.to_json(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(result.text() + "\n")
    return 0


def _analyze_quantized(args: argparse.Namespace, model, qopts) -> int:  # type: ignore[no-untyped-def]
    """``analyze --quantize``: the quantized graph's table (and memory plan), then per-layer SQNR and output errors."""
    from tinyc.analysis import analyze_graph
    from tinyc.driver import Analysis, resolve_target
    from tinyc.memory.cliargs import plan_options_from_args
    from tinyc.quant.api import quantization_report

    qmodel, acc = quantization_report(model, args.calib, eval_data=args.eval, options=qopts, pass_options=_pass_options(args))
    result = Analysis(analyze_graph(qmodel.graph, qmodel.name))
    if args.target:
        from tinyc.memory import plan_memory

        result.memory = plan_memory(qmodel.graph, resolve_target(args.target), options=plan_options_from_args(args))
        if args.memory_plot:
            from tinyc.memory.plot import plot_plan

            plot_plan(result.memory, Path(args.memory_plot))
    if args.json:
        json.dump({**result.to_json(), "quantization": acc.to_json()}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(result.text() + "\n\n" + acc.text() + "\n")
    return 0


def _llm_options(args: argparse.Namespace) -> dict[str, object]:
    opts: dict[str, object] = {}
    if getattr(args, "int8", False):
        opts["weights"] = "int8"
    if getattr(args, "kv_cache", None):
        opts["kv_cache"] = args.kv_cache
    if getattr(args, "group_size", None) is not None:
        opts["group_size"] = args.group_size
    return opts


def _is_llm(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "tokenizer", None)) or Path(args.model).suffix.lower() == ".bin"


def cmd_compile_llm(args: argparse.Namespace) -> int:
    from tinyc.llm.runner import compile_llm

    if not args.tokenizer:
        raise InputError("a language model needs its tokenizer", hint="add --tokenizer tokenizer.bin (llama2.c format)")
    art = compile_llm(args.model, args.tokenizer, target=args.target_file or args.target or "stm32h7", out_dir=args.output, options=_llm_options(args))
    print(f"wrote {len(art.files)} files to {art.output_dir}")
    for f in art.files:
        print(f"  {f}")
    rep = art.report if isinstance(art.report, dict) else {}
    regions = rep.get("regions") or rep.get("bytes_per_region")
    if isinstance(regions, dict):
        parts = [f"{k} {v['total']:,} B" if isinstance(v, dict) and isinstance(v.get("total"), int) else f"{k} {v}" for k, v in regions.items()]
        print("bytes per region: " + ", ".join(parts))
    return 0


def cmd_run_llm(args: argparse.Namespace) -> int:
    from tinyc.llm.runner import run_llm, run_llm_qemu

    if args.on == "qemu":
        run = run_llm_qemu(
            args.model, args.tokenizer, args.prompt, args.steps, args.temperature, args.seed,
            int8=args.int8, ids=args.ids, topp=args.topp, target=args.target, options=_llm_options(args),
        )
        sys.stdout.write(run.stdout if isinstance(run.stdout, str) else run.stdout.decode(errors="replace"))
        per_token = run.instructions.get("per_token") if isinstance(run.instructions, dict) else None
        if per_token:
            print(f"emulated Cortex-M7 (QEMU mps2-an500): {per_token:,.0f} instructions per token "
                  "(emulator instruction counts, not cycles)", file=sys.stderr)
        return 0
    out = run_llm(
        args.model, args.tokenizer, args.prompt, args.steps, args.temperature, args.seed,
        int8=args.int8, ids=args.ids, topp=args.topp, options=_llm_options(args),
    )
    sys.stdout.write(out)
    return 0


def _add_llm_args(p: argparse.ArgumentParser, *, tokenizer_required: bool) -> None:
    g = p.add_argument_group("language models (llama2.c checkpoints, Llama-style ONNX)")
    g.add_argument("--tokenizer", required=tokenizer_required, help="tokenizer.bin in llama2.c's format")
    g.add_argument("--int8", action="store_true", help="int8 weights with group-wise scales")
    g.add_argument("--kv-cache", choices=["float32", "int8"], help="KV cache format (default float32)")
    g.add_argument("--group-size", type=int, help="columns per int8 scale (default 64; 0: one per row)")


def cmd_compile(args: argparse.Namespace) -> int:
    from tinyc.driver import CompileOptions, compile_model
    from tinyc.memory.cliargs import plan_options_from_args

    if _is_llm(args):
        return cmd_compile_llm(args)

    if args.calib and not args.quantize and args.precision is None:
        # calibration data says what the user wants: the integer targets run int8
        print("note: --calib without --quantize: quantizing to int8", file=sys.stderr)
        args.quantize = "int8"
    model = _load(args)
    quant = {}
    if args.precision == "int8" and not args.quantize:  # TensorRT int8: calibration data without the MCU quantizer
        quant = dict(calib=args.calib, observer=args.observer, int_io=args.int_io)
    elif _quant_options(args) is not None:
        quant = dict(quantize=args.quantize, calib=args.calib, observer=args.observer, int_io=args.int_io)
    trt = dict(precision=args.precision, dynamic_batch=_parse_batch(args.dynamic_batch))
    opts = CompileOptions(target=args.target, target_file=args.target_file, plan=plan_options_from_args(args), io_type=args.io_type, **quant, **trt)
    art = compile_model(model, output_dir=args.output, options=opts, pass_options=_pass_options(args))
    print(f"wrote {len(art.files)} files to {art.output_dir}")
    for f in art.files:
        print(f"  {f}")
    for line in _report_summary(art.report):
        print(line)
    return 0


def _report_summary(report: object) -> list[str]:
    """A few headline lines from a backend's report (the full one is report.md in the output folder)."""
    if not isinstance(report, dict):
        return []
    lines: list[str] = []
    totals = report.get("totals")
    if isinstance(totals, dict) and "ram_bytes" in totals:
        per_region = report.get("ram_per_region") or {}
        regions = ", ".join(f"{k} {v:,} B" for k, v in per_region.items()) if isinstance(per_region, dict) else ""
        lines.append(f"RAM {totals['ram_bytes']:,} B" + (f" ({regions})" if regions else "") + f"; flash constants {totals.get('flash_constants_bytes', 0):,} B; {totals.get('macs', 0):,} MACs")
    tpu = report.get("edgetpu")
    if isinstance(tpu, dict) and isinstance(tpu.get("tpu_ops"), int):
        n_tpu, n_cpu = int(tpu["tpu_ops"]), int(tpu.get("cpu_ops") or 0)
        split = tpu.get("split_at")
        lines.append(f"Edge TPU: {n_tpu} of {n_tpu + n_cpu} operators map" + (f"; the CPU takes over at operator {split}" if split is not None and n_cpu else ""))
    if report:
        lines.append("details: report.md in the output folder")
    return lines


def _parse_batch(text: str | None) -> tuple[int, int, int] | None:
    if text is None:
        return None
    try:
        lo, opt, hi = (int(v) for v in text.split(","))
    except ValueError:
        raise InputError(f"bad --dynamic-batch {text!r}", hint="write it as MIN,OPT,MAX, e.g. 1,8,32") from None
    return lo, opt, hi


def cmd_targets(args: argparse.Namespace) -> int:
    from tinyc.targets import list_targets, load_target

    if args.name:
        t = load_target(args.name)
        sys.stdout.write(t.describe() + "\n")
        return 0
    sys.stdout.write(list_targets_table(list_targets(), load_target) + "\n")
    return 0


def list_targets_table(names, load_target) -> str:  # type: ignore[no-untyped-def]
    from tinyc.analysis import format_table
    from tinyc.targets import format_size

    rows = []
    for name in names:
        t = load_target(name)
        mems = ", ".join(f"{r.name} {format_size(r.size)}" for r in t.regions)
        rows.append([t.name, t.backend, getattr(t, "description", ""), mems])
    return format_table(rows, ["target", "backend", "description", "memories"], "llll")


def build_parser() -> argparse.ArgumentParser:
    from tinyc.memory.cliargs import add_memory_args

    parser = argparse.ArgumentParser(
        prog="tinyc",
        description="tinyc compiles neural networks (ONNX, PyTorch) into C and models for microcontrollers and edge accelerators.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"tinyc {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("ir", help="print the model's IR", description="Print the model's IR in tinyc's textual form.")
    _add_model_args(p)
    p.add_argument("--full", action="store_true", help="print every constant in full (round-trippable)")
    p.add_argument("--pipeline", action="store_true", help="run the target's pass pipeline first")
    p.add_argument("--target", default="stm32h7", help="target whose pipeline --pipeline runs (default stm32h7)")
    _add_pass_args(p)
    p.set_defaults(fn=cmd_ir)

    p = sub.add_parser("run", help="run the reference interpreter", description="Run the model in tinyc's NumPy reference interpreter.")
    _add_model_args(p)
    p.add_argument("--input", required=True, help=".npy (single input) or .npz keyed by input name")
    p.add_argument("--output", help="write outputs to .npy (single output) or .npz")
    _add_quant_args(p)
    p.set_defaults(fn=cmd_run)

    p = sub.add_parser("analyze", help="per-layer table, totals, memory plan", description="Per-layer shapes, parameters and MACs; with --target, the memory plan.")
    _add_model_args(p)
    p.add_argument("--target", help="plan memory for this target (see `tinyc targets`)")
    p.add_argument("--json", action="store_true", help="machine-readable output (schema in docs/memory.md)")
    p.add_argument("--memory-plot", metavar="PNG", help="draw the memory plan (needs --target)")
    add_memory_args(p)
    _add_quant_args(p, eval_set=True)
    _add_pass_args(p)
    p.set_defaults(fn=cmd_analyze)

    p = sub.add_parser("compile", help="compile for a target", description="Compile the model for a target into an output folder.")
    _add_model_args(p)
    p.add_argument("--target", default=None, help="target name (see `tinyc targets`); default stm32h7")
    p.add_argument("--target-file", help="a board description TOML of your own")
    p.add_argument("-o", "--output", required=True, help="output folder (replaced atomically)")
    add_memory_args(p)
    _add_quant_args(p)
    g = p.add_argument_group("TensorRT (Jetson targets)")
    g.add_argument("--precision", choices=["fp32", "fp16", "int8"], help="engine precision (default: int8 for QDQ models, else the target's, fp16); int8 takes --calib")
    g.add_argument("--dynamic-batch", metavar="MIN,OPT,MAX", help="symbolic batch with one optimisation profile (no DLA), e.g. 1,8,32")
    p.add_argument("--io-type", choices=["int8", "uint8", "float"], help="TFLite targets: the .tflite's input/output type (default: the target's)")
    _add_llm_args(p, tokenizer_required=False)
    _add_pass_args(p)
    p.set_defaults(fn=cmd_compile)

    p = sub.add_parser(
        "run-llm",
        help="generate text with a compiled language model",
        description="Compile a llama2.c checkpoint (or Llama-style ONNX) to C, build it on the host (or for the emulated Cortex-M7) and generate.",
        epilog="example: tinyc run-llm stories260K.bin --tokenizer tok512.bin --prompt 'Once upon a time' --steps 256 --temperature 0",
    )
    p.add_argument("model", help="llama2.c checkpoint (.bin) or Llama-style .onnx")
    _add_llm_args(p, tokenizer_required=True)
    p.add_argument("--prompt", default="", help="text to start from")
    p.add_argument("--steps", type=int, default=256, help="positions to run, prompt included (default 256)")
    p.add_argument("--temperature", type=float, default=1.0, help="0 for greedy decoding (default 1.0)")
    p.add_argument("--topp", type=float, default=0.9, help="nucleus sampling threshold (default 0.9)")
    p.add_argument("--seed", type=int, default=42, help="sampler seed (default 42)")
    p.add_argument("--ids", action="store_true", help="print token ids as llama2.c's run.c emits them, on one line")
    p.add_argument("--on", choices=["host", "qemu"], default="host", help="run on the host, or on the emulated Cortex-M7")
    p.add_argument("--target", default="stm32h7", help="board for --on qemu (default stm32h7)")
    p.set_defaults(fn=cmd_run_llm)

    p = sub.add_parser("targets", help="list the known targets", description="List the targets (boards) and their memories.")
    p.add_argument("name", nargs="?", help="show one target in detail")
    p.set_defaults(fn=cmd_targets)

    from tinyc.validate import add_parser as add_validate_parser

    add_validate_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING if args.verbose == 0 else logging.INFO if args.verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s: %(message)s", stream=sys.stderr)
    if not getattr(args, "fn", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.fn(args))
    except TinycError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug in tinyc: say so, briefly
        if os.environ.get("TINYC_DEBUG"):
            traceback.print_exc()
        print(f"internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        print("  this is a bug in tinyc; rerun with TINYC_DEBUG=1 for the traceback and report it", file=sys.stderr)
        return 70


if __name__ == "__main__":
    sys.exit(main())
