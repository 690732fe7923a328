"""Emulated Cortex-M7 on QEMU's ``mps2-an500``: build flags, linker scripts, firmware builds and runs.

Shared by every backend that runs its C on the emulator (the cmsis_nn
validation harness, the llm decoder). A target's regions go to the addresses
its ``[emulation.regions]`` table gives (``emulation_map``); ``linker_script``
writes a GNU ld script for any set of regions; ``build_firmware`` links the
sources with ``runtime_c/platform/mps2_an500/startup.c``; ``run_firmware``
runs the ELF with semihosting under a timeout.

Instruction counts come from QEMU's ``-icount shift=0`` (one instruction per
nanosecond of virtual time) read through the CMSDK timer0 at 25 MHz
(``tinyc_qemu.h``), so one tick is 40 instructions: deterministic, but
emulator instruction counts, not Cortex-M7 cycles.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tinyc.errors import TargetError, ToolchainError

log = logging.getLogger(__name__)

MACHINE = "mps2-an500"
# the machine's memories that work (REFERENCE.md): flash at 0, SRAM, and the 16 MiB "SDRAM" window
EMULATOR_FLASH = (0x00000000, 0x400000)
EMULATOR_RAM = ((0x20000000, 0x400000), (0x60000000, 0x1000000))
M7_FLAGS = ("-mcpu=cortex-m7", "-mfpu=fpv5-d16", "-mfloat-abi=hard", "-mthumb")
C_FLAGS = ("-std=c99", "-Wall", "-Wextra", "-Werror")
LINK_FLAGS = ("-nostartfiles", "--specs=rdimon.specs", "-Wl,--gc-sections")
QEMU_FLAGS = ("-M", MACHINE, "-display", "none", "-monitor", "none", "-serial", "none",
              "-semihosting-config", "enable=on,target=native", "-icount", "shift=0,sleep=off")  # fmt: skip
INSTRUCTIONS_PER_TICK = 40  # -icount shift=0: 1 instruction/ns; CMSDK timer0 at 25 MHz
PLATFORM = "platform/mps2_an500"
APT_PACKAGES = "gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm"


def platform_dir() -> Path:
    """``runtime_c/platform/mps2_an500``: start-up code, ``tinyc_qemu.h`` and the plain-board linker script."""
    from tinyc.backends import runtime_dir

    return runtime_dir(f"{PLATFORM}/startup.c", f"{PLATFORM}/tinyc_qemu.h") / PLATFORM


def find_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ToolchainError(f"{name} not found on PATH", hint=f"apt-get install -y --no-install-recommends {APT_PACKAGES}")
    return path


# -- where a target's regions go -------------------------------------------------------------------


def _gaps(window: tuple[int, int], used: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Free (start, length) runs of ``window`` outside the ``used`` (start, length) ranges."""
    base, size = window
    edges = sorted((a, a + n) for a, n in used if base <= a < base + size)
    cursor, gaps = base, []
    for a, e in edges + [(base + size, base + size)]:
        if a > cursor:
            gaps.append((cursor, a - cursor))
        cursor = max(cursor, e)
    return gaps


def emulation_map(target: Any, min_free: int = 256 * 1024) -> tuple[dict[str, tuple[int, int]], tuple[int, int] | None]:
    """Region -> (emulator address, length), and the largest free emulator RAM window (None if under ``min_free``).

    Regions the target's ``[emulation.regions]`` places stay there; the others
    are packed into the emulator memory of their kind that is still free
    (flash at 0, SRAM at 0x20000000, then the 16 MiB at 0x60000000), cut to
    what is left. A build that needs more than its region got fails at link time.
    """
    from tinyc.targets import MemoryKind, parse_size

    emu = dict(getattr(target, "emulation", {}) or {})
    if emu.get("machine", MACHINE) != MACHINE:
        raise TargetError(f"target {target.name} emulates on {emu.get('machine')!r}; tinyc runs {MACHINE} only")
    spec = dict(emu.get("regions", {}))
    out: dict[str, tuple[int, int]] = {}
    for r in target.regions:
        if r.name not in spec:
            continue
        addr = int(spec[r.name]["address"])
        size = parse_size(spec[r.name].get("size", r.size), f"emulated size of {r.name}")
        windows = [EMULATOR_FLASH] if r.kind is MemoryKind.FLASH else list(EMULATOR_RAM)
        win = next((w for w in windows if w[0] <= addr < w[0] + w[1]), None)
        if win is None:
            raise TargetError(f"target {target.name}: region {r.name} is mapped to 0x{addr:08X}, which {MACHINE} does not have",
                              hint="fix its address in [emulation.regions]")  # fmt: skip
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
    best: tuple[int, int] | None = None  # the largest emulator RAM window no target region covers
    for win in EMULATOR_RAM:
        for g in _gaps(win, list(out.values())):
            if best is None or g[1] > best[1]:
                best = g
    return out, (best if best is not None and best[1] >= min_free else None)


def code_region(target: Any, regions: dict[str, tuple[int, int]]) -> str:
    """The region mapped at address 0, where QEMU boots: the vector table, code and read-only data go there."""
    name = next((n for n, (origin, _) in regions.items() if origin == EMULATOR_FLASH[0]), None)
    if name is None:
        raise TargetError(f"target {target.name} maps no region at 0x00000000, where {MACHINE} boots",
                          hint="map its code flash there in [emulation.regions]")  # fmt: skip
    return name


# -- linker scripts ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Memory:
    """One MEMORY entry."""

    name: str
    origin: int
    length: int
    writable: bool


@dataclass(frozen=True)
class Placement:
    """An output section kept in ``region``; ``load``: QEMU loads its contents (else NOLOAD, left as is)."""

    section: str
    region: str
    load: bool
    align: int = 32


def memories(target: Any, regions: dict[str, tuple[int, int]]) -> list[Memory]:
    """The target's mapped regions as MEMORY entries, in the target's order."""
    return [Memory(r.name, *regions[r.name], r.writable) for r in target.regions if r.name in regions]


def linker_script(
    mems: Sequence[Memory], placements: Sequence[Placement], *, code: str, ram: str, bss: str | None = None, title: str = ""
) -> str:
    """A GNU ld script for the startup in ``runtime_c/platform/mps2_an500``.

    Vectors, code, read-only data and the ``.data`` load image go to ``code``;
    ``.data``, the heap and the stack (down from its top) to ``ram``; ``.bss``
    to ``bss`` (default ``ram``); each placement to its region.
    """
    bss = bss or ram
    lines = [f"/* {title or f'written by tinyc for {MACHINE}'} */", "MEMORY", "{"]
    for m in mems:
        lines.append(f"    {m.name:<10} ({'rwx' if m.writable else 'rx'}) : ORIGIN = 0x{m.origin:08X}, LENGTH = 0x{m.length:X}")
    lines += ["}", "", "ENTRY(tinyc_reset_handler)", "", "SECTIONS", "{"]
    lines.append(f"    .text : {{ KEEP(*(.vectors)) *(.text*) *(.rodata*) *(.glue_7*) *(.eh_frame*) KEEP(*(.init)) KEEP(*(.fini)) . = ALIGN(4); }} > {code}")
    lines.append(f"    .ARM.extab : {{ *(.ARM.extab* .gnu.linkonce.armextab.*) }} > {code}")
    lines.append(f"    .ARM.exidx : {{ __exidx_start = .; *(.ARM.exidx* .gnu.linkonce.armexidx.*) __exidx_end = .; }} > {code}")
    for arr in ("preinit_array", "init_array", "fini_array"):
        lines.append(f"    .{arr} : {{ PROVIDE_HIDDEN(__{arr}_start = .); KEEP(*(SORT(.{arr}.*))); KEEP(*(.{arr}*)); PROVIDE_HIDDEN(__{arr}_end = .); }} > {code}")
    for p in placements:
        noload = "" if p.load else " (NOLOAD)"
        lines.append(f"    {p.section}{noload} : ALIGN({p.align}) {{ KEEP(*({p.section})) KEEP(*({p.section}.*)) }} > {p.region}")
    lines.append(f"    .data : ALIGN(4) {{ __data_start__ = .; *(.data*) . = ALIGN(4); __data_end__ = .; }} > {ram} AT > {code}")
    lines.append("    __data_load__ = LOADADDR(.data);")
    lines.append(f"    .bss (NOLOAD) : ALIGN(4) {{ __bss_start__ = .; *(.bss*) *(COMMON) . = ALIGN(4); __bss_end__ = .; }} > {bss}")
    lines.append(f"    .heap (NOLOAD) : ALIGN(8) {{ end = .; __end__ = .; }} > {ram}")
    lines.append(f"    __stack_top__ = ORIGIN({ram}) + LENGTH({ram});")
    lines.append("}")
    return "\n".join(lines) + "\n"


def board_linker_script() -> str:
    """The plain board (4 MiB flash, 4 MiB SRAM): ``runtime_c/platform/mps2_an500/mps2_an500.ld``."""
    mems = [Memory("FLASH", *EMULATOR_FLASH, False), Memory("RAM", *EMULATOR_RAM[0], True)]
    title = (
        f"tinyc runtime: linker script for QEMU's {MACHINE} (Cortex-M7) emulation, written by tinyc.backends.qemu.\n"
        " * 4 MiB flash at 0 (code, constants, .data load image); 4 MiB SRAM at 0x20000000\n"
        " * (.data, .bss, heap growing up, stack down from the top). SPDX-License-Identifier: Apache-2.0\n"
    )
    return linker_script(mems, [], code="FLASH", ram="RAM", title=title)


# -- build and run ----------------------------------------------------------------------------------


def build_firmware(
    sources: Sequence[Path | str],
    script: Path,
    out: Path,
    *,
    include_dirs: Sequence[Path | str] = (),
    flags: Sequence[str] = ("-O2",),
    map_file: Path | None = None,
) -> Path:
    """Compile each source (and the start-up code) to ``out.parent/obj/<stem>.o``, link with ``script`` into ``out``.

    ``tinyc_qemu.h`` is on the include path; ``flags`` (optimisation, defines)
    go to every compile; ``map_file`` asks the linker for a map.
    """
    gcc = find_tool("arm-none-eabi-gcc")
    platform = platform_dir()
    cflags = [*C_FLAGS, *M7_FLAGS, *flags, f"-I{platform}", *(f"-I{d}" for d in include_dirs)]
    objdir = out.parent / "obj"
    objdir.mkdir(parents=True, exist_ok=True)
    objects = []
    for src in [*map(Path, sources), platform / "startup.c"]:
        obj = objdir / (src.stem + ".o")
        _run([gcc, *cflags, "-c", str(src), "-o", str(obj)], f"Cortex-M7 build of {src.name}")
        objects.append(str(obj))
    link = [gcc, *M7_FLAGS, *objects, "-T", str(script), *LINK_FLAGS, "-o", str(out), "-lm"]
    if map_file is not None:
        link.insert(-3, f"-Wl,-Map={map_file}")
    _run(link, "Cortex-M7 link")
    return out


def _run(cmd: list[str], what: str) -> None:
    log.info("%s: %s", what, " ".join(cmd))
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise ToolchainError(f"{what} failed:\n{proc.stderr.strip()[-4000:]}",
                             hint="this is a tinyc bug if the generated code does not compile; please report it")  # fmt: skip


@dataclass
class QemuRun:
    stdout: str
    stderr: str
    returncode: int
    instructions: dict[str, int] = field(default_factory=dict)  # the program's "tinyc-qemu: key=value" lines on stderr


def run_firmware(elf: Path, *, cwd: Path | None = None, timeout: float = 600) -> QemuRun:
    """Run an ELF on mps2-an500 with semihosting (files relative to ``cwd``) and -icount; a hung guest is killed after ``timeout``."""
    cmd = [find_tool("qemu-system-arm"), *QEMU_FLAGS, "-kernel", str(elf)]
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ToolchainError(f"QEMU did not finish within {timeout:.0f} s", where=str(elf),
                             hint="a hung guest (fault loop) or a very slow program") from None  # fmt: skip
    out = proc.stdout.decode("utf-8", errors="replace")
    err = proc.stderr.decode("utf-8", errors="replace")
    if proc.returncode != 0:
        raise ToolchainError(f"the emulated program failed (exit {proc.returncode}):\n{(out + err).strip()[-3000:]}", where=str(elf))
    tagged = " ".join(line for line in err.splitlines() if line.startswith("tinyc-qemu:"))
    return QemuRun(out, err, proc.returncode, {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", tagged)})
