"""Build and run a compiled model: on the host (gcc) or on QEMU's Cortex-M7 (arm-none-eabi-gcc).

``harness_c`` writes a small ``main()`` that reads int8 (and float) samples
from files, calls ``<name>_run`` / ``<name>_run_float`` and writes the
results; on the emulator it also counts instructions per inference and per
layer. ``build_host`` / ``build_qemu`` compile it with the generated sources
and tinyc's runtime; ``run_harness`` feeds it samples and parses the results.
The emulator side (memory map, linker script, flags, QEMU) is
``tinyc.backends.qemu``; its instruction counts are emulator instructions,
not Cortex-M7 cycles.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tinyc.backends import qemu
from tinyc.backends.cmsis_nn.glue import runtime_dir
from tinyc.backends.qemu import INSTRUCTIONS_PER_TICK, emulation_map
from tinyc.errors import TinycError, ToolchainError
from tinyc.targets import MemoryKind, Target

C_FLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror"]
SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-g"]


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

    @staticmethod
    def dtype(port: dict[str, Any]) -> np.dtype:
        """NumPy type of a port's integer values (int8, or int16 for int16x8 models)."""
        return np.dtype(np.int16 if port.get("dtype") == "i16" else np.int8)


@dataclass
class RunResult:
    outputs: list[np.ndarray]  # per output: int8 (int16 for int16x8) [N, *shape]
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
    bufs = [f"static {P}_IN{i}_TYPE in{i}[{P}_IN{i}_SIZE];" for i in ins] + [f"static {P}_OUT{o}_TYPE out{o}[{P}_OUT{o}_SIZE];" for o in outs]
    fbufs = [f"static float fin{i}[{P}_IN{i}_SIZE];" for i in ins] + [f"static float fout{o}[{P}_OUT{o}_SIZE];" for o in outs]
    read_i8 = " && ".join(f"fread(in{i}, sizeof(in{i}[0]), {P}_IN{i}_SIZE, fi) == {P}_IN{i}_SIZE" for i in ins) or "0"
    read_f = " && ".join(f"fread(fin{i}, sizeof(float), {P}_IN{i}_SIZE, fi) == {P}_IN{i}_SIZE" for i in ins) or "0"
    run_args = ", ".join([f"in{i}" for i in ins] + [f"out{o}" for o in outs])
    frun_args = ", ".join([f"fin{i}" for i in ins] + [f"fout{o}" for o in outs])
    write_i8 = "\n".join(f"            fwrite(out{o}, sizeof(out{o}[0]), {P}_OUT{o}_SIZE, fo);" for o in outs)
    write_f = "\n".join(f"            fwrite(fout{o}, sizeof(float), {P}_OUT{o}_SIZE, fo);" for o in outs)
    return f"""\
/* tinyc validation harness for {p}: integer and float samples from files, results to files. */
#include <stdint.h>
#include <stdio.h>

#include "{p}.h"

#if defined(__ARM_ARCH) && !defined(TINYC_HOST)
#include "tinyc_qemu.h" /* mps2-an500 timer0: 40 instructions per tick under -icount shift=0 */
static void timer_start(void) {{ tinyc_qemu_timer_start(); }}
static uint32_t ticks(void) {{ return tinyc_qemu_timer_ticks(); }}
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
    cc_path = shutil.which(cc)
    if cc_path is None:
        raise ToolchainError(f"{cc} not found on PATH", hint=f"install {cc}")
    cmd = [cc_path, *C_FLAGS, opt, *(SANITIZE if sanitize else []), *(extra or []), "-DTINYC_HOST", f"-I{info.dir}", f"-I{runtime / 'include'}", *_sources(info, runtime), str(work / "harness.c"), "-o", str(exe)]
    _compile(cmd, "host build")
    return exe


def qemu_linker_script(target: Target, used_sections: dict[str, str], flash: str | None = None) -> str:
    """A full linker script for the harness on QEMU, the target's regions at their emulation addresses.

    The harness's ``.data``, ``.bss``, heap and stack go to the largest emulator
    RAM window no region covers, or, if none is left, to the fastest
    activation region (its reserved bytes).
    """
    from tinyc.backends.cmsis_nn.glue import STANDARD_SECTIONS

    regions, free = emulation_map(target)
    missing = sorted({r for r in used_sections.values() if r not in regions})
    if missing:
        raise ToolchainError(f"target {target.name} does not map region(s) {', '.join(missing)} onto the emulator", hint="add them to [emulation.regions] in the target file")
    mems = qemu.memories(target, regions)
    if free is not None:
        host = "HOST_RAM"
        mems.append(qemu.Memory(host, *free, True))
    else:
        host = target.activation_regions()[0].name
    placements = [
        qemu.Placement(section, region, load=target.region(region).kind is not MemoryKind.RAM)
        for section, region in sorted(used_sections.items())
        if section not in STANDARD_SECTIONS
    ]
    title = f"QEMU {qemu.MACHINE} run of a tinyc build for {target.name}: the target's regions at their emulation addresses."
    return qemu.linker_script(mems, placements, code=flash or qemu.code_region(target, regions), ram=host, title=title)


def build_qemu(build_dir: Path, work: Path, target: Target, *, opt: str = "-O2", extra: list[str] | None = None) -> Path:
    """Cross-compile the model, runtime and harness for the emulated Cortex-M7; returns the ELF.

    Each source becomes its own object (``work/obj/<stem>.o``) and the link
    writes a map (``harness_m7.map``), so ``size_breakdown`` can attribute
    flash to the model's code, its constants and the kernels.
    """
    info = BuildInfo.read(build_dir)
    runtime = runtime_dir()
    sections = dict(json.loads((info.dir / "report.json").read_text()).get("sections", {}))
    work.mkdir(parents=True, exist_ok=True)
    (work / "harness.c").write_text(harness_c(info))
    (work / "qemu.ld").write_text(qemu_linker_script(target, sections))
    flags = [opt, "-ffunction-sections", "-fdata-sections", *(extra or []), "-DTINYC_PROFILE"]
    return qemu.build_firmware(
        [*_sources(info, runtime), work / "harness.c"], work / "qemu.ld", work / "harness_m7.elf",
        include_dirs=[info.dir, runtime / "include"], flags=flags, map_file=work / "harness_m7.map",
    )  # fmt: skip


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
            for x, port in zip(xs, info.inputs):
                f.write(np.ascontiguousarray(x[k], dtype=info.dtype(port)).tobytes())
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
        stdout = qemu.run_firmware(exe, cwd=work, timeout=timeout).stdout
    else:
        try:
            proc = subprocess.run([str(exe)], cwd=work, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise ToolchainError(f"the host run did not finish within {timeout:.0f} s", hint="a hung program or a very slow model") from None
        if proc.returncode != 0:
            raise ToolchainError(f"the host run failed with exit status {proc.returncode}:\n{(proc.stdout + proc.stderr).strip()[-3000:]}")
        stdout = proc.stdout
    res = RunResult([], None, on=on)
    for line in stdout.splitlines():
        parts = line.split()
        if parts[:1] == ["run"]:
            res.ticks.append(int(parts[3]))
        elif parts[:1] == ["layer"]:
            res.layer_ticks[int(parts[1])] = int(parts[2])
    if len(res.ticks) != n:
        raise ToolchainError(f"the {on} run processed {len(res.ticks)} of {n} samples:\n{stdout[-2000:]}")
    res.outputs = _split_ints((work / "tinyc_out.bin").read_bytes(), info, n)
    if float_xs is not None:
        fraw = np.frombuffer((work / "tinyc_out_f32.bin").read_bytes(), dtype=np.float32)
        res.float_outputs = _split(fraw, info, float_xs[0].shape[0])
    return res


def _split_ints(raw: bytes, info: BuildInfo, n: int) -> list[np.ndarray]:
    """Per output [N, *shape] from the harness's records (each sample: every output's values, in its own type)."""
    kinds = [(info.dtype(o), info.size(o)) for o in info.outputs]
    record = np.dtype([(f"o{k}", dt, (size,)) for k, (dt, size) in enumerate(kinds)])
    if len(raw) != record.itemsize * n:
        raise ToolchainError(f"expected {record.itemsize * n} output bytes, got {len(raw)}")
    rows = np.frombuffer(raw, dtype=record, count=n)
    return [rows[f"o{k}"].reshape(n, *o["shape"]).copy() for k, o in enumerate(info.outputs)]


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
