"""Emulated Cortex-M7 runs on QEMU's ``mps2-an500``: linker script, firmware build, run, instruction counts.

Generic over targets: each of the target's regions is mapped to the address
its ``[emulation.regions]`` table gives (the real map stays in the target
file); code, ``.data`` and ``.bss`` go to the emulated flash and to the
largest RAM hole left, which also holds the heap and the stack. The startup
code and timer helpers are ``runtime_c/qemu``.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tinyc.errors import TargetError, ToolchainError

log = logging.getLogger(__name__)

MACHINE = "mps2-an500"
# the machine's memories that work (REFERENCE.md): name, origin, length
MPS2_AN500 = (("flash", 0x00000000, 4 << 20), ("sram", 0x20000000, 4 << 20), ("psram", 0x60000000, 16 << 20))
ARM_CFLAGS = ("-mcpu=cortex-m7", "-mfpu=fpv5-d16", "-mfloat-abi=hard", "-mthumb")
C_FLAGS = ("-std=c99", "-O2", "-Wall", "-Wextra", "-Werror")
QEMU_FLAGS = ("-M", MACHINE, "-display", "none", "-monitor", "none", "-serial", "none",
              "-semihosting-config", "enable=on,target=native", "-icount", "shift=0,sleep=off")  # fmt: skip


@dataclass(frozen=True)
class MappedRegion:
    name: str
    origin: int
    length: int
    section: str
    writable: bool


def map_regions(target: Any, used_sections: dict[str, str]) -> tuple[list[MappedRegion], tuple[int, int]]:
    """The target's used regions at their emulation addresses, and the (origin, length) of the system RAM hole."""
    emu = dict(getattr(target, "emulation", {}) or {})
    if emu.get("machine", MACHINE) != MACHINE:
        raise TargetError(f"target {target.name!r} emulates {emu.get('machine')!r}; tinyc runs {MACHINE} only")
    spec = dict(emu.get("regions", {}))
    from tinyc.targets import parse_size

    mapped = []
    for region in target.regions:
        if region.name not in spec:
            if region.name in used_sections.values():
                raise TargetError(f"target {target.name!r} gives no emulation address for region {region.name}",
                                  hint="add it to [emulation.regions]")  # fmt: skip
            continue
        s = spec[region.name]
        origin = int(s["address"])
        length = parse_size(s.get("size", region.size), f"emulated size of {region.name}")
        mem = next((m for m in MPS2_AN500 if m[1] <= origin < m[1] + m[2]), None)
        if mem is None:
            raise TargetError(f"region {region.name} emulated at 0x{origin:08X}, outside {MACHINE}'s memories")
        if origin + length > mem[1] + mem[2]:
            length = mem[1] + mem[2] - origin  # clip: the model must still fit (checked by the linker)
        mapped.append(MappedRegion(region.name, origin, length, region.section, region.writable))
    return mapped, _ram_hole(mapped)


def _ram_hole(mapped: list[MappedRegion]) -> tuple[int, int]:
    best = (0, 0)
    for _, origin, length in MPS2_AN500[1:]:
        taken = sorted((m.origin, m.origin + m.length) for m in mapped if origin <= m.origin < origin + length)
        cursor = origin
        for lo, hi in taken + [(origin + length, origin + length)]:
            if lo - cursor > best[1]:
                best = (cursor, lo - cursor)
            cursor = max(cursor, hi)
    if best[1] < 64 << 10:
        raise TargetError(
            f"no RAM left on {MACHINE} for the stack, heap and .data once the target's regions are mapped"
        )
    return best


def linker_script(
    mapped: list[MappedRegion], hole: tuple[int, int], sections: dict[str, str], ram_weight_sections: set[str]
) -> str:
    """A GNU ld script: vectors, code and read-only data in flash; each used section in its region."""
    code = next((m for m in mapped if m.origin == 0), None)
    mem = [
        f"  {m.name} ({'rwx' if m.writable else 'rx'}) : ORIGIN = 0x{m.origin:08X}, LENGTH = 0x{m.length:X}"
        for m in mapped
        if m is not code
    ]
    code_name = code.name if code else "FLASH"
    mem.insert(0, f"  {code_name} (rx) : ORIGIN = 0x00000000, LENGTH = 0x{MPS2_AN500[0][2]:X}")
    mem.append(f"  SYS (rwx) : ORIGIN = 0x{hole[0]:08X}, LENGTH = 0x{hole[1]:X}")
    out_secs = []
    bss_home = "SYS"
    for sec, region in sorted(sections.items()):
        if sec in (".rodata", ".text"):
            continue  # with the code
        if sec in (".bss", ".data"):
            bss_home = region
            continue
        noload = "" if sec in ram_weight_sections else " (NOLOAD)"
        out_secs.append(f"  {sec}{noload} : ALIGN(16) {{ KEEP(*({sec})) }} > {region}")
    return f"""/* written by tinyc for {MACHINE} */
ENTRY(Reset_Handler)
MEMORY
{{
{chr(10).join(mem)}
}}
SECTIONS
{{
  .vectors : {{ KEEP(*(.vectors)) }} > {code_name}
  .text : {{ *(.text*) *(.rodata*) *(.glue_7*) *(.eh_frame*) . = ALIGN(4); }} > {code_name}
  .ARM.extab : {{ *(.ARM.extab*) }} > {code_name}
  .ARM.exidx : {{ *(.ARM.exidx*) }} > {code_name}
  .init_array : {{ *(.init_array*) *(.fini_array*) *(.preinit_array*) . = ALIGN(4); }} > {code_name}
{chr(10).join(out_secs)}
  .data : ALIGN(4) {{ __data_start = .; *(.data*) . = ALIGN(4); __data_end = .; }} > SYS AT > {code_name}
  __data_load = LOADADDR(.data);
  .bss (NOLOAD) : ALIGN(4) {{ __bss_start__ = .; *(.bss*) *(COMMON) . = ALIGN(4); __bss_end__ = .; }} > {bss_home}
  .heap (NOLOAD) : ALIGN(8) {{ end = .; __end__ = .; }} > SYS
  __stack_top = ORIGIN(SYS) + LENGTH(SYS);
}}
"""


def find_tool(name: str, apt: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ToolchainError(f"{name} not found", hint=f"apt-get install -y --no-install-recommends {apt}")
    return path


def build_firmware(
    sources: list[Path], include_dirs: list[Path], script: str, out: Path, defines: tuple[str, ...] = ()
) -> Path:
    """Compile and link sources plus runtime_c/qemu/startup.c into an ELF for mps2-an500."""
    from tinyc.backends.llm import runtime_dir

    cc = find_tool("arm-none-eabi-gcc", "gcc-arm-none-eabi libnewlib-arm-none-eabi")
    qemu_rt = runtime_dir() / "qemu"
    ld = out.with_suffix(".ld")
    ld.write_text(script, encoding="utf-8")
    cmd = [cc, *ARM_CFLAGS, *C_FLAGS, *defines, "-I", str(qemu_rt), *[f"-I{d}" for d in include_dirs],
           "--specs=rdimon.specs", "-nostartfiles", "-T", str(ld), "-Wl,--gc-sections", "-o", str(out),
           str(qemu_rt / "startup.c"), *map(str, sources), "-lm"]  # fmt: skip
    log.info("firmware build: %s", " ".join(cmd))
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise ToolchainError(f"firmware build failed:\n{proc.stderr[-4000:]}")
    return out


@dataclass
class QemuRun:
    stdout: str
    stderr: str
    returncode: int
    instructions: dict[str, int]  # what the program reported as "tinyc-qemu: key=value" pairs


def run_firmware(elf: Path, timeout: float = 600) -> QemuRun:
    """Run an ELF on mps2-an500 with semihosting and -icount; a hung guest is killed after ``timeout``."""
    qemu = find_tool("qemu-system-arm", "qemu-system-arm")
    cmd = [qemu, *QEMU_FLAGS, "-kernel", str(elf)]
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ToolchainError(f"QEMU did not finish within {timeout:.0f} s", where=str(elf)) from None
    out = proc.stdout.decode("utf-8", errors="replace")
    err = proc.stderr.decode("utf-8", errors="replace")
    counts = {
        k: int(v)
        for k, v in re.findall(
            r"(\w+)=(\d+)", " ".join(line for line in err.splitlines() if line.startswith("tinyc-qemu:"))
        )
    }
    if proc.returncode != 0:
        raise ToolchainError(f"the emulated program failed (exit {proc.returncode}):\n{err[-3000:]}", where=str(elf))
    return QemuRun(out, err, proc.returncode, counts)
