"""Build glue written next to the C: a Makefile fragment, a CMake library, a linker snippet.

The kernels come from tinyc's runtime (``runtime_c/``, found by
``runtime_dir()``) through its own ``tinyc_runtime.mk`` / ``CMakeLists.txt``,
which also implement the ``TINYC_CMSIS_NN_DIR`` swap to Arm's CMSIS-NN.
"""

from __future__ import annotations

from pathlib import Path

from tinyc.backends import runtime_dir as find_runtime
from tinyc.backends.cmsis_nn.codegen import Generated
from tinyc.targets import MemoryKind, Target, format_size

# Section names every linker script already places; the snippet leaves them alone.
STANDARD_SECTIONS = frozenset({".text", ".rodata", ".data", ".bss"})


def runtime_dir() -> Path:
    """tinyc's C runtime with the kernels: ``$TINYC_RUNTIME_DIR``, the installed package data, or ``runtime_c/``."""
    return find_runtime("tinyc_runtime.mk", "include/arm_nnfunctions.h")


def makefile_fragment(prefix: str, runtime: Path) -> str:
    P = prefix.upper()
    return f"""\
# {prefix}.mk: build the {prefix} model compiled by tinyc (a Makefile fragment; generated, do not edit).
#
#     include path/to/{prefix}/{prefix}.mk
#     CFLAGS += $({P}_CFLAGS)
#     OBJS   += $({P}_OBJS)          # built into $({P}_BUILD_DIR), kernels included
#
# The kernels are tinyc's portable CMSIS-NN implementation (TINYC_RUNTIME_DIR);
# `make TINYC_CMSIS_NN_DIR=/path/to/CMSIS-NN` builds against Arm's CMSIS-NN instead.
# CC and CFLAGS are yours (e.g. arm-none-eabi-gcc and -mcpu=cortex-m7 -mfpu=fpv5-d16 -mfloat-abi=hard -mthumb).

{P}_DIR := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
TINYC_RUNTIME_DIR ?= {runtime.as_posix()}
ifndef TINYC_RUNTIME_SRCS
include $(TINYC_RUNTIME_DIR)/tinyc_runtime.mk
endif

{P}_BUILD_DIR ?= build/{prefix}
{P}_SRCS := $({P}_DIR)/{prefix}.c $({P}_DIR)/{prefix}_weights.c
{P}_CFLAGS := -I$({P}_DIR) $(TINYC_RUNTIME_CFLAGS)
{P}_MODEL_OBJS := $({P}_BUILD_DIR)/{prefix}.o $({P}_BUILD_DIR)/{prefix}_weights.o
{P}_OBJS := $({P}_MODEL_OBJS) $(TINYC_RUNTIME_OBJS)

$({P}_BUILD_DIR)/%.o: $({P}_DIR)/%.c $({P}_DIR)/{prefix}.h $({P}_DIR)/{prefix}_data.h | $({P}_BUILD_DIR)
\t$(CC) -std=c99 $(CFLAGS) $({P}_CFLAGS) -c $< -o $@

$({P}_BUILD_DIR):
\tmkdir -p $@
"""


def cmake_file(prefix: str, runtime: Path) -> str:
    return f"""\
# CMake library target `{prefix}`: the {prefix} model compiled by tinyc (generated, do not edit).
#
#     add_subdirectory(path/to/{prefix} {prefix})
#     target_link_libraries(my_app PRIVATE {prefix})
#
# -DTINYC_CMSIS_NN_DIR=/path/to/CMSIS-NN builds against Arm's CMSIS-NN instead of
# tinyc's portable kernels (the runtime's CMakeLists.txt reads it).
cmake_minimum_required(VERSION 3.13)
project({prefix}_model LANGUAGES C)

set(TINYC_RUNTIME_DIR "{runtime.as_posix()}" CACHE PATH "tinyc's runtime_c folder (the CMSIS-NN kernels)")
if(NOT TARGET tinyc_runtime)
  add_subdirectory("${{TINYC_RUNTIME_DIR}}" "${{CMAKE_BINARY_DIR}}/tinyc_runtime")
endif()

add_library({prefix} STATIC
  "${{CMAKE_CURRENT_LIST_DIR}}/{prefix}.c"
  "${{CMAKE_CURRENT_LIST_DIR}}/{prefix}_weights.c")
target_include_directories({prefix} PUBLIC "${{CMAKE_CURRENT_LIST_DIR}}")
target_link_libraries({prefix} PUBLIC tinyc_runtime)
set_target_properties({prefix} PROPERTIES C_STANDARD 99 C_STANDARD_REQUIRED ON C_EXTENSIONS OFF)
"""


def _used_sections(gen: Generated) -> dict[str, tuple[str, bool, int]]:
    """section -> (region, is RAM, alignment) for every section the generated arrays use."""
    out: dict[str, tuple[str, bool, int]] = {}
    for a in gen.arrays:
        ram = a.ram
        prev = out.get(a.section)
        out[a.section] = (a.region, ram or (prev[1] if prev else False), max(a.align, prev[2] if prev else 1))
    for ar in gen.arenas:
        prev = out.get(ar.section)
        out[ar.section] = (ar.region, True, max(ar.align, prev[2] if prev else 1))
    return out


def memory_block(target: Target, addresses: dict[str, tuple[int, int]] | None = None, extra: list[tuple[str, str, int, int]] | None = None) -> list[str]:
    """A linker MEMORY command for the target's regions (``addresses``: region -> (origin, length) overrides)."""
    lines = ["MEMORY", "{"]
    for r in target.regions:
        if addresses is not None:
            if r.name not in addresses:
                continue
            origin, length = addresses[r.name]
        else:
            if r.base is None:
                continue
            origin, length = r.base, r.size
        attrs = "rx" if r.kind is MemoryKind.FLASH else "rwx"
        lines.append(f"    {r.name:<10} ({attrs}) : ORIGIN = 0x{origin:08X}, LENGTH = 0x{length:X}")
    for name, attrs, origin, length in extra or []:
        lines.append(f"    {name:<10} ({attrs}) : ORIGIN = 0x{origin:08X}, LENGTH = 0x{length:X}")
    lines.append("}")
    return lines


def section_commands(gen: Generated) -> list[str]:
    """Output-section commands placing each non-standard section in its region."""
    out = []
    for section, (region, ram, align) in sorted(_used_sections(gen).items(), key=lambda kv: (kv[1][0], kv[0])):
        if section in STANDARD_SECTIONS:
            continue
        noload = " (NOLOAD)" if ram else ""
        out.append(f"    {section}{noload} : ALIGN({align}) {{ KEEP(*({section})) KEEP(*({section}.*)) }} > {region}")
    return out


def linker_snippet(prefix: str, target: Target, gen: Generated) -> str:
    sections = _used_sections(gen)
    lines = [
        f"/* {prefix}_sections.ld: where tinyc put the {prefix} model's data on target {target.name} (generated, do not edit).",
        " *",
        " * INCLUDE it inside the SECTIONS command of your linker script, whose MEMORY command",
        " * must name the target's regions (the target's map is below). RAM sections are NOLOAD:",
        " * tinyc never reads an arena byte before writing it, and RAM-resident weights are",
        f" * copied in by {prefix}_init().",
        " *",
        " * Sections used:",
    ]
    for section, (region, ram, _) in sorted(sections.items()):
        note = " (already placed by any standard script)" if section in STANDARD_SECTIONS else ""
        lines.append(f" *   {section:<16} -> {region} ({'RAM' if ram else 'flash'}){note}")
    lines.append(" *")
    lines.append(" * The target's memory map:")
    for row in memory_block(target):
        lines.append(f" *   {row}")
    lines.append(" */")
    cmds = section_commands(gen)
    lines += cmds if cmds else ["/* nothing to place: every section is a standard one */"]
    return "\n".join(lines) + "\n"


def region_summary(target: Target, gen: Generated) -> dict[str, dict[str, int]]:
    """Bytes per region: constants (flash image), RAM copies of weights, arena."""
    out: dict[str, dict[str, int]] = {}
    for r in target.regions:
        out[r.name] = {"constants": 0, "arena": 0, "capacity": r.capacity}
    for a in gen.arrays:
        out[a.region]["constants"] += a.nbytes
    for ar in gen.arenas:
        out[ar.region]["arena"] += ar.size
    return {k: v for k, v in out.items() if v["constants"] or v["arena"]}


def fmt_size(n: int) -> str:
    return format_size(n)


def model_prefix(model: str | Path) -> str:
    """The C prefix (and file names) ``tinyc compile`` gives a model file: its stem as a C identifier."""
    from tinyc.api import _model_name
    from tinyc.backends.cmsis_nn.emitter import c_ident

    return c_ident(_model_name(Path(model).stem), "model").lower()

