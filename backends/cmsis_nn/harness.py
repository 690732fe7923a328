"""Build and run a compiled model: on the host (gcc) or on QEMU's Cortex-M7 (arm-none-eabi-gcc).

``harness_c`` writes a small ``main()`` that reads int8 (and float) samples
from files, calls ``<name>_run`` / ``<name>_run_float`` and writes the
results; on the emulator it also counts instructions per inference and per
layer. ``build_host`` / ``build_qemu`` compile it with the generated sources
and tinyc's runtime; ``run_harness`` feeds it samples and parses the results.

Instruction counts come from QEMU's ``-icount shift=0`` (one instruction per
nanosecond of virtual time) read through the CMSDK timer0 at 25 MHz, so one
tick is 40 instructions: deterministic, but emulator instruction counts, not
Cortex-M7 cycles.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tinyc.backends.cmsis_nn.glue import runtime_dir
from tinyc.errors import TinycError, ToolchainError
from tinyc.targets import MemoryKind, Target, parse_size

C_FLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror"]
SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-g"]
M7_FLAGS = ["-mcpu=cortex-m7", "-mfpu=fpv5-d16", "-mfloat-abi=hard", "-mthumb"]
INSTRUCTIONS_PER_TICK = 40  # -icount shift=0: 1 instruction/ns; CMSDK timer0 at 25 MHz
QEMU_MACHINE = "mps2-an500"
# QEMU mps2-an500 RAM that exists (see REFERENCE.md): SRAM and the 16 MiB "SDRAM" window.
EMULATOR_RAM = ((0x20000000, 0x400000), (0x60000000, 0x1000000))
EMULATOR_FLASH = (0x00000000, 0x400000)


@dataclass
class BuildInfo:
    """What a build folder's report.json says about the model's interface."""

    dir: Path
    prefix: str
    target: str
    inputs: list[dict[str, Any]]
    outputs: list[dict[str, Any]]
    layers: list[dict[str, Any]]

    @classmethod
    def read(cls, build_dir: Path) -> BuildInfo:
        path = Path(build_dir) / "report.json"
        if not path.is_file():
            raise TinycError(f"{build_dir} is not a cmsis_nn build folder (no report.json)", hint="compile the model first: tinyc compile MODEL --target stm32h7 -o DIR")
        rep = json.loads(path.read_text())
        return cls(Path(build_dir), rep["prefix"], rep["target"], rep["inputs"], rep["outputs"], rep["layers"])

    def size(self, port: dict[str, Any]) -> int:
        return int(np.prod(port["shape"]))


@dataclass
class RunResult:
    outputs: list[np.ndarray]  # per output: int8 [N, *shape]
    float_outputs: list[np.ndarray] | None  # per output: float32 [N, *shape]
    ticks: list[int] = field(default_factory=list)  # per int8 sample
    layer_ticks: dict[int, int] = field(default_factory=dict)  # first sample, per layer index
    on: str = "host"

    @property
    def instructions(self) -> list[int]:
        return [t * INSTRUCTIONS_PER_TICK for t in self.ticks]

    @property
    def layer_instructions(self) -> dict[int, int]:
        return {k: v * INSTRUCTIONS_PER_TICK for k, v in self.layer_ticks.items()}


# -- the harness program ----------------------------------------------------------------------


def harness_c(info: BuildInfo) -> str:
    p, P = info.prefix, info.prefix.upper()
    ins, outs = range(len(info.inputs)), range(len(info.outputs))
    bufs = [f"static int8_t in{i}[{P}_IN{i}_SIZE];" for i in ins] + [f"static int8_t out{o}[{P}_OUT{o}_SIZE];" for o in outs]
    fbufs = [f"static float fin{i}[{P}_IN{i}_SIZE];" for i in ins] + [f"static float fout{o}[{P}_OUT{o}_SIZE];" for o in outs]
    read_i8 = " && ".join(f"fread(in{i}, 1, {P}_IN{i}_SIZE, fi) == {P}_IN{i}_SIZE" for i in ins) or "0"
    read_f = " && ".join(f"fread(fin{i}, sizeof(float), {P}_IN{i}_SIZE, fi) == {P}_IN{i}_SIZE" for i in ins) or "0"
    run_args = ", ".join([f"in{i}" for i in ins] + [f"out{o}" for o in outs])
    frun_args = ", ".join([f"fin{i}" for i in ins] + [f"fout{o}" for o in outs])
    write_i8 = "\n".join(f"            fwrite(out{o}, 1, {P}_OUT{o}_SIZE, fo);" for o in outs)
    write_f = "\n".join(f"            fwrite(fout{o}, sizeof(float), {P}_OUT{o}_SIZE, fo);" for o in outs)
    return f"""\
/* tinyc validation harness for {p}: int8 and float samples from files, results to files. */
#include <stdint.h>
#include <stdio.h>

#include "{p}.h"

#if defined(__ARM_ARCH) && !defined(TINYC_HOST)
/* CMSDK timer0 of mps2-an500: a 32-bit down counter at 25 MHz (40 instructions per tick under -icount shift=0). */
#define TIMER0_CTRL (*(volatile uint32_t *)0x40000000u)
#define TIMER0_VALUE (*(volatile uint32_t *)0x40000004u)
#define TIMER0_RELOAD (*(volatile uint32_t *)0x40000008u)
static void timer_start(void)
{{
    TIMER0_CTRL = 0u;
    TIMER0_RELOAD = 0xFFFFFFFFu;
    TIMER0_VALUE = 0xFFFFFFFFu;
    TIMER0_CTRL = 1u;
}}
static uint32_t ticks(void) {{ return 0xFFFFFFFFu - TIMER0_VALUE; }}
#else
static void timer_start(void) {{}}
static uint32_t ticks(void) {{ return 0u; }}
#endif

#if defined(TINYC_PROFILE)
static int profiling;
static uint32_t layer_start;
static uint32_t layer_ticks[{P}_NUM_LAYERS + 1];
static int layer_seen[{P}_NUM_LAYERS + 1];
void tinyc_profile_begin(int32_t layer);
void tinyc_profile_end(int32_t layer);
void tinyc_profile_begin(int32_t layer)
{{
    (void)layer;
    if (profiling) layer_start = ticks();
}}
void tinyc_profile_end(int32_t layer)
{{
    if (profiling && layer >= 0 && layer < {P}_NUM_LAYERS) {{
        layer_ticks[layer] += ticks() - layer_start;
        layer_seen[layer] = 1;
    }}
}}
#endif

{chr(10).join(bufs)}
{chr(10).join(fbufs)}

int main(void)
{{
    timer_start();
    const {p}_status st = {p}_init();
    printf("init %d\\n", (int)st);
    if (st != {P}_OK) return 2;
    FILE *fi = fopen("tinyc_in.bin", "rb");
    FILE *fo = fopen("tinyc_out.bin", "wb");
    if (fi == NULL || fo == NULL) return 3;
    long n = 0;
    while ({read_i8}) {{
#if defined(TINYC_PROFILE)
        if (n == 0) {{ /* one extra, profiled run of the first sample: per-layer counts */
            profiling = 1;
            (void){p}_run({run_args});
            profiling = 0;
        }}
#endif
        const uint32_t t0 = ticks();
        const {p}_status s = {p}_run({run_args});
        const uint32_t t1 = ticks();
        printf("run %ld %d %lu\\n", n, (int)s, (unsigned long)(t1 - t0));
        if (s != {P}_OK) return 4;
{write_i8}
        ++n;
    }}
    fclose(fi);
    fclose(fo);
#if defined(TINYC_PROFILE)
    for (int32_t i = 0; i < {P}_NUM_LAYERS; ++i) {{
        if (layer_seen[i]) printf("layer %ld %lu\\n", (long)i, (unsigned long)layer_ticks[i]);
    }}
#endif
    fi = fopen("tinyc_in_f32.bin", "rb");
    if (fi != NULL) {{
        fo = fopen("tinyc_out_f32.bin", "wb");
        if (fo == NULL) return 3;
        n = 0;
        while ({read_f}) {{
            const {p}_status s = {p}_run_float({frun_args});
            if (s != {P}_OK) return 5;
{write_f}
            ++n;
        }}
        fclose(fi);
        fclose(fo);
        printf("float %ld\\n", n);
    }}
    printf("done\\n");
    return 0;
}}
"""


# -- builds --------------------------------------------------------------------------------------


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        hint = "apt-get install -y --no-install-recommends gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm" if "arm" in name else f"install {name}"
        raise ToolchainError(f"{name} not found on PATH", hint=hint)
    return path


def _compile(cmd: list[str], what: str) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise ToolchainError(f"{what} failed:\n{proc.stderr.strip()[:4000]}", hint="this is a tinyc bug if the generated code does not compile; please report it")


def _sources(info: BuildInfo, runtime: Path) -> list[str]:
    model = [str(info.dir / f"{info.prefix}.c"), str(info.dir / f"{info.prefix}_weights.c")]
    return model + sorted(str(p) for p in (runtime / "src").glob("*.c"))


def build_host(build_dir: Path, work: Path, *, sanitize: bool = False, opt: str = "-O2", cc: str = "gcc", extra: list[str] | None = None) -> Path:
    """Compile the model, the runtime and the harness for the host; returns the executable."""
    info = BuildInfo.read(build_dir)
    runtime = runtime_dir()
    work.mkdir(parents=True, exist_ok=True)
    (work / "harness.c").write_text(harness_c(info))
    exe = work / "harness_host"
    cmd = [_tool(cc), *C_FLAGS, opt, *(SANITIZE if sanitize else []), *(extra or []), "-DTINYC_HOST", f"-I{info.dir}", f"-I{runtime / 'include'}", *_sources(info, runtime), str(work / "harness.c"), "-o", str(exe)]
    _compile(cmd, "host build")
    return exe


def _gaps(window: tuple[int, int], used: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Free (start, length) runs of ``window`` outside the ``used`` (start, length) ranges."""
    base, size = window
    edges = sorted((a, a + n) for a, n in used if base <= a < base + size)
    cursor, gaps = base, []
    for a, e in edges + [(base + size, base + size)]:
        if a > cursor:
            gaps.append((cursor, a - cursor))
        cursor = max(cursor, e)
    return gaps


def emulation_map(target: Target) -> tuple[dict[str, tuple[int, int]], tuple[int, int] | None]:
    """Region -> (emulator address, length), and a free emulator RAM window for the harness (or None).

    Regions the target's ``[emulation.regions]`` places stay there; the others
    are packed into the emulator memory of their kind that is still free
    (flash at 0, SRAM at 0x20000000, then the 16 MiB at 0x60000000), cut to
    what is left. A build that needs more than its region got fails at link time.
    """
    spec = dict(target.emulation.get("regions", {}))
    if target.emulation.get("machine", QEMU_MACHINE) != QEMU_MACHINE:
        raise ToolchainError(f"target {target.name} emulates on {target.emulation.get('machine')!r}; tinyc runs {QEMU_MACHINE} only")
    out: dict[str, tuple[int, int]] = {}
    for r in target.regions:
        if r.name not in spec:
            continue
        addr = int(spec[r.name]["address"])
        size = parse_size(spec[r.name].get("size", r.size))
        windows = [EMULATOR_FLASH] if r.kind is MemoryKind.FLASH else list(EMULATOR_RAM)
        win = next((w for w in windows if w[0] <= addr < w[0] + w[1]), None)
        if win is None:
            raise ToolchainError(f"target {target.name}: region {r.name} is mapped to 0x{addr:08X}, which {QEMU_MACHINE} does not have")
        out[r.name] = (addr, min(size, win[0] + win[1] - addr))
    for r in target.regions:
        if r.name in out or r.base is None:
            continue
        windows = [EMULATOR_FLASH] if r.kind is MemoryKind.FLASH else list(EMULATOR_RAM)
        gaps = [g for win in windows for g in _gaps(win, list(out.values())) if g[1] >= 16 * 1024]
        whole = [g for g in gaps if g[1] >= r.size]
        gap = whole[0] if whole else max(gaps, key=lambda g: g[1], default=None)
        if gap is not None:
            out[r.name] = (gap[0], min(r.size, gap[1]))
    # the largest emulator RAM window no target region covers
    best: tuple[int, int] | None = None
    for win in EMULATOR_RAM:
        for g in _gaps(win, list(out.values())):
            if best is None or g[1] > best[1]:
                best = g
    return out, (best if best is not None and best[1] >= 256 * 1024 else None)


def qemu_linker_script(target: Target, used_sections: dict[str, str], flash: str) -> str:
    """A full linker script for the harness on QEMU, the target's regions at their emulation addresses."""
    from tinyc.backends.cmsis_nn.glue import STANDARD_SECTIONS, memory_block

    regions, free = emulation_map(target)
    missing = sorted({r for r in used_sections.values() if r not in regions})
    if missing:
        raise ToolchainError(f"target {target.name} does not map region(s) {', '.join(missing)} onto the emulator", hint="add them to [emulation.regions] in the target file")
    if free is not None:
        host, extra = "HOST_RAM", [("HOST_RAM", "rwx", free[0], free[1])]
    else:  # no spare window: the harness shares the fastest RAM region (its reserved bytes)
        host, extra = target.activation_regions()[0].name, []
    lines = [f"/* QEMU {QEMU_MACHINE} run of a tinyc build for {target.name}: the target's regions at their emulation addresses. */"]
    lines += memory_block(target, regions, extra)
    lines += ["", "ENTRY(tinyc_reset_handler)", "", "SECTIONS", "{"]
    lines.append(f"    .text : {{ KEEP(*(.vectors)) *(.text*) *(.rodata*) KEEP(*(.init)) KEEP(*(.fini)) . = ALIGN(4); }} > {flash}")
    lines.append(f"    .ARM.extab : {{ *(.ARM.extab* .gnu.linkonce.armextab.*) }} > {flash}")
    lines.append(f"    .ARM.exidx : {{ __exidx_start = .; *(.ARM.exidx* .gnu.linkonce.armexidx.*) __exidx_end = .; }} > {flash}")
    for arr in ("preinit_array", "init_array", "fini_array"):
        lines.append(f"    .{arr} : {{ PROVIDE_HIDDEN(__{arr}_start = .); KEEP(*(SORT(.{arr}.*))); KEEP(*(.{arr}*)); PROVIDE_HIDDEN(__{arr}_end = .); }} > {flash}")
    for section, region in sorted(used_sections.items()):
        if section in STANDARD_SECTIONS:
            continue
        kind = target.region(region).kind
        noload = " (NOLOAD)" if kind is MemoryKind.RAM else ""
        lines.append(f"    {section}{noload} : ALIGN(32) {{ KEEP(*({section})) KEEP(*({section}.*)) }} > {region}")
    lines.append(f"    .data : ALIGN(4) {{ __data_start__ = .; *(.data*) . = ALIGN(4); __data_end__ = .; }} > {host} AT > {flash}")
    lines.append("    __data_load__ = LOADADDR(.data);")
    lines.append(f"    .bss (NOLOAD) : ALIGN(4) {{ __bss_start__ = .; *(.bss*) *(COMMON) . = ALIGN(4); __bss_end__ = .; }} > {host}")
    lines.append("    . = ALIGN(8);")
    lines.append("    end = .;")
    lines.append("    __end__ = .;")
    lines.append(f"    __stack_top__ = ORIGIN({host}) + LENGTH({host});")
    lines.append("}")
    return "\n".join(lines) + "\n"


def build_qemu(build_dir: Path, work: Path, target: Target, *, opt: str = "-O2", extra: list[str] | None = None) -> Path:
    """Cross-compile the model, runtime and harness for the emulated Cortex-M7; returns the ELF.

    Each source becomes its own object (``work/obj/<stem>.o``) and the link
    writes a map (``harness_m7.map``), so ``size_breakdown`` can attribute
    flash to the model's code, its constants and the kernels.
    """
    info = BuildInfo.read(build_dir)
    runtime = runtime_dir()
    startup = runtime / "platform" / "mps2_an500" / "startup.c"
    if not startup.is_file():
        raise ToolchainError(f"{startup} not found", hint="use a tinyc checkout whose runtime_c has platform/mps2_an500")
    sections = dict(json.loads((info.dir / "report.json").read_text()).get("sections", {}))
    flash = next(r.name for r in target.regions if r.kind is MemoryKind.FLASH and r.name in target.weights)
    work.mkdir(parents=True, exist_ok=True)
    (work / "harness.c").write_text(harness_c(info))
    (work / "qemu.ld").write_text(qemu_linker_script(target, sections, flash))
    gcc = _tool("arm-none-eabi-gcc")
    flags = [*C_FLAGS, *M7_FLAGS, opt, "-ffunction-sections", "-fdata-sections", *(extra or []), "-DTINYC_PROFILE", f"-I{info.dir}", f"-I{runtime / 'include'}"]
    objdir = work / "obj"
    objdir.mkdir(exist_ok=True)
    objects = []
    for src in [*_sources(info, runtime), str(work / "harness.c"), str(startup)]:
        obj = objdir / (Path(src).stem + ".o")
        _compile([gcc, *flags, "-c", src, "-o", str(obj)], f"Cortex-M7 build of {Path(src).name}")
        objects.append(str(obj))
    elf = work / "harness_m7.elf"
    link = [gcc, *M7_FLAGS, *objects, "-T", str(work / "qemu.ld"), "-nostartfiles", "--specs=rdimon.specs", "-Wl,--gc-sections", f"-Wl,-Map={work / 'harness_m7.map'}", "-o", str(elf)]
    _compile(link, "Cortex-M7 link")
    return elf


def size_breakdown(map_file: Path, prefix: str, runtime_objects: list[str]) -> dict[str, int]:
    """Bytes the linked image keeps per kind: the model's code, its constants, the kernels' code (from a GNU ld map)."""
    import re

    text = map_file.read_text(errors="replace")
    body = text.split("Linker script and memory map", 1)[-1]
    out = {"model_code": 0, "model_const": 0, "kernels_code": 0, "kernels_const": 0}
    pending: str | None = None
    pat = re.compile(r"^\s*(\.\S+)?\s+0x[0-9a-fA-F]+\s+0x([0-9a-fA-F]+)\s+(\S+\.o)\s*$")
    for line in body.splitlines():
        m = pat.match(line)
        if m is None:
            only = re.match(r"^\s(\.\S+)\s*$", line)
            pending = only.group(1) if only else None
            continue
        section = m.group(1) or pending or ""
        pending = None
        size, obj = int(m.group(2), 16), Path(m.group(3)).stem
        if size == 0 or not section.startswith((".text", ".rodata")):
            continue
        kind = "code" if section.startswith(".text") else "const"
        if obj in (prefix, f"{prefix}_weights"):
            out[f"model_{kind}"] += size
        elif obj in runtime_objects:
            out[f"kernels_{kind}"] += size
    return out


# -- running ---------------------------------------------------------------------------------------


def _write_inputs(info: BuildInfo, work: Path, xs: list[np.ndarray], fxs: list[np.ndarray] | None) -> int:
    n = xs[0].shape[0] if xs else 0
    with open(work / "tinyc_in.bin", "wb") as f:
        for k in range(n):
            for x in xs:
                f.write(np.ascontiguousarray(x[k], dtype=np.int8).tobytes())
    f32 = work / "tinyc_in_f32.bin"
    if fxs is not None:
        with open(f32, "wb") as f:
            for k in range(fxs[0].shape[0]):
                for x in fxs:
                    f.write(np.ascontiguousarray(x[k], dtype=np.float32).tobytes())
    elif f32.exists():
        f32.unlink()
    return n


def run_harness(
    exe: Path,
    info: BuildInfo,
    work: Path,
    xs: list[np.ndarray],
    float_xs: list[np.ndarray] | None = None,
    *,
    on: str = "host",
    timeout: float = 600,
) -> RunResult:
    """Run a built harness on int8 inputs ``xs`` (each [N, *shape]) and optional float inputs."""
    n = _write_inputs(info, work, xs, float_xs)
    if on == "qemu":
        cmd = [
            _tool("qemu-system-arm"), "-M", QEMU_MACHINE, "-nographic", "-monitor", "none", "-serial", "none",
            "-icount", "shift=0,sleep=off", "-semihosting-config", "enable=on,target=native", "-kernel", str(exe),
        ]  # fmt: skip
    else:
        cmd = [str(exe)]
    try:
        proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ToolchainError(f"the {on} run did not finish within {timeout:.0f} s", hint="a hung guest (fault loop) or a very slow model") from None
    if proc.returncode != 0:
        raise ToolchainError(f"the {on} run failed with exit status {proc.returncode}:\n{(proc.stdout + proc.stderr).strip()[-3000:]}")
    res = RunResult([], None, on=on)
    for line in proc.stdout.splitlines():
        parts = line.split()
        if parts[:1] == ["run"]:
            res.ticks.append(int(parts[3]))
        elif parts[:1] == ["layer"]:
            res.layer_ticks[int(parts[1])] = int(parts[2])
    if len(res.ticks) != n:
        raise ToolchainError(f"the {on} run processed {len(res.ticks)} of {n} samples:\n{proc.stdout[-2000:]}")
    raw = np.frombuffer((work / "tinyc_out.bin").read_bytes(), dtype=np.int8)
    res.outputs = _split(raw, info, n)
    if float_xs is not None:
        fraw = np.frombuffer((work / "tinyc_out_f32.bin").read_bytes(), dtype=np.float32)
        res.float_outputs = _split(fraw, info, float_xs[0].shape[0])
    return res


def _split(flat: np.ndarray, info: BuildInfo, n: int) -> list[np.ndarray]:
    sizes = [info.size(o) for o in info.outputs]
    per = sum(sizes)
    if flat.size != per * n:
        raise ToolchainError(f"expected {per * n} output values, got {flat.size}")
    rows = flat.reshape(n, per) if n else flat.reshape(0, per)
    out, start = [], 0
    for o, s in zip(info.outputs, sizes):
        out.append(rows[:, start : start + s].reshape(n, *o["shape"]).copy())
        start += s
    return out
