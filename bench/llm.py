"""Decoder benchmark: stories260K and a random-weight stories15M-shaped model, float32 and int8.

    python bench/llm.py [--json out.json] [--skip-15m] [--steps-260k 256] [--steps-15m 64] [--no-qemu]

Per model and format: bytes per memory region of the stm32h7 board (weights,
tokenizer, activations, KV cache, sampler buffers), the Python compile time
(lowering, placement, C emission), the host gcc -O2 build time, host tokens/s
(greedy, the generated C built with the host gcc), and the instructions per
token under QEMU's mps2-an500 Cortex-M7 with -icount (instructions, not M7
cycles; the float stories15M-shaped model does not fit the emulator's 24 MiB
of RAM and is skipped there). "int8" means int8 weights (groups of 64, activations
quantized per group at run time), "+ int8 KV" an int8 KV cache too. The
accuracy report compares the int8 builds' greedy ids with llama2.c's and
their teacher-forced logits with the float build's. stories260K comes from ../shared/models (skipped when absent).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
LLAMA = REPO.parent / "shared" / "models" / "llama2c"
TARGET = "stm32h7"


def stories15m_shaped() -> tuple[Any, Any]:
    from tinyc.llm.model import DecoderConfig, random_decoder
    from tinyc.llm.tokenizer import synthetic_tokenizer

    cfg = DecoderConfig(dim=288, hidden_dim=768, n_layers=6, n_heads=6, n_kv_heads=6, vocab_size=32000, seq_len=256)
    return random_decoder(cfg, seed=15, name="stories15m_random"), synthetic_tokenizer(32000)


def stories260k() -> tuple[Any, Any] | None:
    if not (LLAMA / "stories260K.bin").exists():
        return None
    from tinyc.frontends.llama2c import read_checkpoint, read_tokenizer

    model = read_checkpoint(LLAMA / "stories260K.bin")
    return model, read_tokenizer(LLAMA / "tok512.bin", model.config.vocab_size)


FORMATS = {
    "float32": {},
    "int8": {"weights": "int8"},
    "int8 + int8 KV": {"weights": "int8", "kv_cache": "int8"},
}


def bench_one(label: str, model: Any, tok: Any, fmt: str, steps: int, qemu: bool, prompt: str) -> dict[str, Any]:
    from tinyc.backends.llm import generate_c, write_generated
    from tinyc.backends.llm.harness import build_host
    from tinyc.errors import TinycError
    from tinyc.llm.runner import host_target, llm_options, run_llm_qemu
    from tinyc.targets import load_target

    opts = llm_options(FORMATS[fmt])
    row: dict[str, Any] = {"model": label, "format": fmt, "params": model.n_params}
    t0 = time.perf_counter()
    try:
        gen = generate_c(model, tok, load_target(TARGET), opts)
        row["compile_s"] = round(time.perf_counter() - t0, 2)
        rep = gen.report()
        row["bytes"] = rep["bytes"]
        row["regions"] = {
            name: {k: v for k, v in r.items() if k not in ("section", "kind")} for name, r in rep["regions"].items()
        }
        row["fits"] = True
    except TinycError as exc:
        row["compile_s"] = round(time.perf_counter() - t0, 2)
        row["fits"] = False
        row["error"] = str(exc).splitlines()[0]
    work = Path(tempfile.mkdtemp(prefix="tinyc-bench-llm-"))
    try:
        from dataclasses import replace

        host_gen = generate_c(model, tok, host_target(), replace(opts, sections=False))
        write_generated(host_gen, work / "src")
        t0 = time.perf_counter()
        exe = build_host(work / "src", host_gen.name, work / "prog")
        row["host_build_s"] = round(time.perf_counter() - t0, 2)
        row["c_source_bytes"] = sum(len(t) for t in host_gen.files.values())
        import subprocess

        proc = subprocess.run(
            [str(exe), prompt, str(steps), "0", "0.9", "42", "ids"], capture_output=True, text=True, timeout=1800
        )
        m = re.search(r"(\d+) tokens in ([\d.]+) s, ([\d.]+) tokens/s", proc.stderr)
        if m:
            row["host_tokens"] = int(m.group(1))
            row["host_tokens_per_s"] = float(m.group(3))
        if qemu and row["fits"] and shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc"):
            try:
                run = run_llm_qemu(model, tok, prompt, steps, int8=False, target=TARGET, ids=True, options=FORMATS[fmt])
                row["qemu"] = run.instructions
            except TinycError as exc:
                row["qemu_error"] = str(exc).splitlines()[0][:200]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return row


def int8_accuracy(model: Any, tok: Any) -> list[dict[str, Any]]:
    """Greedy agreement with llama2.c's ids and teacher-forced logit error of each int8 format."""
    from tinyc.llm.accuracy import compare_builds
    from tinyc.llm.runner import build_host_program

    sys.path.insert(0, str(REPO / "tests" / "llm"))
    from conftest import read_greedy_ids  # type: ignore[import-not-found]

    ref = read_greedy_ids(LLAMA / "stories260K_greedy_ids.txt")
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        f32 = build_host_program(model, tok, None, workdir=Path(tmp) / "f32")
        for fmt in ("int8", "int8 + int8 KV"):
            q = build_host_program(model, tok, FORMATS[fmt], workdir=Path(tmp) / fmt.replace(" ", "_"))
            for acc in compare_builds(f32, q, ref):
                out.append({"format": fmt, "prompt": acc.prompt, "matches": acc.matches, "identical_prefix": acc.first_mismatch,
                            "summary": acc.summary(), "max_abs_err": acc.max_abs_err})  # fmt: skip
    return out


def table(rows: list[dict[str, Any]]) -> str:
    head = "| model | format | fits stm32h7 | weights B | KV cache B | activations B | sampler B | where | compile s | gcc s | host tok/s | M7 instr/token |"
    lines = [head, "|" + "---|" * 12]
    for r in rows:
        b = r.get("bytes", {})
        where = ", ".join(f"{n} {v['total']:,}" for n, v in r.get("regions", {}).items())
        q = r.get("qemu", {}).get("per_token")
        lines.append(
            f"| {r['model']} | {r['format']} | {'yes' if r['fits'] else 'no: ' + r.get('error', '')[:60]} | {b.get('weights', 0):,} | "
            f"{b.get('kv_cache', 0):,} | {b.get('activations', 0):,} | {b.get('sampler', 0):,} | {where} | {r['compile_s']} | "
            f"{r.get('host_build_s', '-')} | {r.get('host_tokens_per_s', '-')} | {f'{q:,}' if q else r.get('qemu_error', '-')} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", help="write the rows as JSON here")
    ap.add_argument("--skip-15m", action="store_true", help="only stories260K")
    ap.add_argument("--no-qemu", action="store_true", help="skip the emulated runs")
    ap.add_argument("--no-accuracy", action="store_true", help="skip the int8-vs-float accuracy report")
    ap.add_argument("--steps-260k", type=int, default=256)
    ap.add_argument("--steps-15m", type=int, default=64)
    args = ap.parse_args(argv)
    rows = []
    small = stories260k()
    if small is None:
        print("stories260K not found under ../shared/models/llama2c: skipped", file=sys.stderr)
    else:
        for fmt in FORMATS:
            rows.append(bench_one("stories260K", *small, fmt, args.steps_260k, not args.no_qemu, "Once upon a time"))
            print(json.dumps(rows[-1]), file=sys.stderr)
    if not args.skip_15m:
        big = stories15m_shaped()
        for fmt in ("int8 + int8 KV", "int8", "float32"):
            qemu = not args.no_qemu and fmt != "float32"  # float weights do not fit the emulator's memory
            rows.append(bench_one("stories15M-shaped (random)", *big, fmt, args.steps_15m, qemu, "Once upon a time"))
            print(json.dumps(rows[-1]), file=sys.stderr)
    print(table(rows))
    accuracy = []
    if small is not None and not args.no_accuracy:
        accuracy = int8_accuracy(*small)
        print("\nint8 against float32, stories260K, llama2.c's greedy ids (256 per prompt):")
        for line in accuracy:
            print(f"- {line['format']}: {line['summary']}")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "accuracy": accuracy}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
