"""Programs around a generated decoder: the host runner's ``main`` and its gcc build, the QEMU firmware's.

The host program takes ``PROMPT STEPS TEMPERATURE TOPP SEED MODE`` (MODE
``text`` or ``ids``) and streams the story (or the ids, space-separated) to
stdout; with ``logits IDS_FILE OUT_FILE`` it teacher-forces the int32 ids of
IDS_FILE from BOS and writes each position's float32 logits to OUT_FILE; with
``encode TEXT`` it prints TEXT's token ids (BOS first) on one line, then each
token's decoded piece followed by a NUL byte.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from pathlib import Path

from tinyc.errors import ToolchainError

log = logging.getLogger(__name__)

HOST_CFLAGS = ("-std=c99", "-O2", "-Wall", "-Wextra", "-Werror")
SANITIZE = ("-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-fno-sanitize-recover=all")

HOST_MAIN = r"""/* host runner for the generated decoder {name} (written by tinyc) */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "{name}.h"

static int g_first = 1;

static void print_text(int32_t token, const char *piece, void *user)
{{
    (void)token;
    (void)user;
    fputs(piece, stdout);
    fflush(stdout);
}}

static void print_id(int32_t token, const char *piece, void *user)
{{
    (void)piece;
    (void)user;
    printf(g_first ? "%ld" : " %ld", (long)token);
    g_first = 0;
}}

static double now(void)
{{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}}

static int dump_logits(const char *ids_path, const char *out_path)
{{
    FILE *in = fopen(ids_path, "rb"), *out = fopen(out_path, "wb");
    int32_t token = {NAME}_BOS, next, pos = 0;
    if (in == NULL || out == NULL) {{
        fprintf(stderr, "cannot open %s or %s\n", ids_path, out_path);
        return 2;
    }}
    {name}_init();
    while (pos < {NAME}_SEQ_LEN && fread(&next, sizeof next, 1, in) == 1) {{
        float *logits = {name}_forward(token, pos);
        if (logits == NULL) {{
            fprintf(stderr, "token %ld out of range\n", (long)token);
            return 2;
        }}
        fwrite(logits, sizeof(float), {NAME}_VOCAB_SIZE, out);
        token = next;
        pos++;
    }}
    fclose(in);
    fclose(out);
    return 0;
}}

int main(int argc, char **argv)
{{
    tinyc_llm_sampler sampler;
    double t0, t1;
    int32_t n;
    if (argc == 4 && strcmp(argv[1], "logits") == 0) {{
        return dump_logits(argv[2], argv[3]);
    }}
    if (argc == 3 && strcmp(argv[1], "encode") == 0) {{
        static int32_t tokens[{NAME}_MAX_PROMPT_BYTES + 3];
        int32_t i, count = {name}_encode(argv[2], 1, tokens, {NAME}_MAX_PROMPT_BYTES + 3);
        for (i = 0; i < count; i++) {{
            printf(i ? " %ld" : "%ld", (long)tokens[i]);
        }}
        printf("\n");
        for (i = 1; i < count; i++) {{
            fputs({name}_decode(tokens[i - 1], tokens[i]), stdout);
            fputc(0, stdout);
        }}
        return count < 0 ? 3 : 0;
    }}
    if (argc != 7) {{
        fprintf(stderr, "usage: %s PROMPT STEPS TEMPERATURE TOPP SEED text|ids\n       %s logits IDS_FILE OUT_FILE\n       %s encode TEXT\n",
                argv[0], argv[0], argv[0]);
        return 2;
    }}
    {name}_init();
    tinyc_llm_sampler_init(&sampler, (float)atof(argv[3]), (float)atof(argv[4]), strtoull(argv[5], NULL, 10));
    t0 = now();
    n = {name}_generate(argv[1], atoi(argv[2]), &sampler, strcmp(argv[6], "ids") == 0 ? print_id : print_text, NULL);
    t1 = now();
    if (n < 0) {{
        fprintf(stderr, "error: the prompt is longer than %d bytes\n", {NAME}_MAX_PROMPT_BYTES);
        return 3;
    }}
    printf("\n");
    fprintf(stderr, "tinyc: %ld tokens in %.3f s, %.1f tokens/s\n", (long)n, t1 - t0, n > 0 ? (double)n / (t1 - t0) : 0.0);
    return 0;
}}
"""


def host_main(name: str) -> str:
    return HOST_MAIN.format(name=name, NAME=name.upper())


def find_cc(cc: str = "gcc") -> str:
    path = shutil.which(cc)
    if path is None:
        raise ToolchainError(f"C compiler {cc!r} not found", hint="install gcc (apt-get install gcc) or set CC")
    return path


def build_host(
    src_dir: Path, name: str, exe: Path, *, sanitize: bool = False, cc: str = "gcc", extra: tuple[str, ...] = ()
) -> Path:
    """Compile the generated C plus a host main into ``exe``."""
    (src_dir / "main_host.c").write_text(host_main(name), encoding="utf-8")
    sources = [src_dir / "main_host.c", src_dir / f"{name}.c", src_dir / f"{name}_weights.c", src_dir / "tinyc_llm.c"]
    cmd = [
        find_cc(cc),
        *HOST_CFLAGS,
        *(SANITIZE if sanitize else ()),
        *extra,
        "-I",
        str(src_dir),
        "-o",
        str(exe),
        *map(str, sources),
        "-lm",
    ]
    log.info("host build: %s", " ".join(cmd))
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise ToolchainError(
            f"host build of {name} failed:\n{proc.stderr[-4000:]}",
            hint="this is a bug in tinyc's C generator; please report it",
        )
    return exe


QEMU_MAIN = r"""/* QEMU mps2-an500 runner for the generated decoder {name} (written by tinyc) */
#include <stdio.h>

#include "tinyc_qemu.h"
#include "{name}.h"

#if {ids}
static int g_first = 1;
#endif

static void on_token(int32_t token, const char *piece, void *user)
{{
    (void)user;
#if {ids}
    (void)piece;
    printf(g_first ? "%ld" : " %ld", (long)token);
    g_first = 0;
#else
    (void)token;
    fputs(piece, stdout);
#endif
}}

int main(void)
{{
    tinyc_llm_sampler sampler;
    uint64_t insns;
    int32_t n;
    {name}_init();
    tinyc_llm_sampler_init(&sampler, {temperature}, {topp}, {seed}ULL);
    tinyc_qemu_timer_start();
    n = {name}_generate({prompt}, {steps}, &sampler, on_token, NULL);
    insns = tinyc_qemu_instructions();
    printf("\n");
    fflush(stdout);
    if (n <= 0) {{
        fprintf(stderr, "tinyc-qemu: generate failed (%ld)\n", (long)n);
        return 3;
    }}
    fprintf(stderr, "tinyc-qemu: tokens=%ld instructions=%lu per_token=%lu\n", (long)n, (unsigned long)insns,
            (unsigned long)(insns / (uint64_t)n));
    return 0;
}}
"""


def qemu_main(name: str, prompt: str, steps: int, temperature: float, topp: float, seed: int, ids: bool) -> str:
    from tinyc.backends.llm.cdata import c_float, c_string_literal

    return QEMU_MAIN.format(
        name=name,
        ids=int(ids),
        temperature=c_float(temperature),
        topp=c_float(topp),
        seed=int(seed) & ((1 << 64) - 1),
        prompt=c_string_literal(prompt.encode("utf-8")),
        steps=int(steps),
    )


def qemu_linker_script(gen, target) -> str:  # type: ignore[no-untyped-def]
    """The decoder's sections at the target regions' emulation addresses; the program's own RAM in the largest free window."""
    from tinyc.backends import qemu
    from tinyc.backends.llm.emit_weights import weights_section
    from tinyc.errors import TargetError

    sections = gen.sections()
    regions, hole = qemu.emulation_map(target, min_free=64 << 10)
    missing = sorted(set(sections.values()) - set(regions))
    if missing:
        raise TargetError(f"target {target.name!r} gives no emulation address for region(s) {', '.join(missing)}",
                          hint="add them to [emulation.regions]")  # fmt: skip
    if hole is None:
        raise TargetError(f"no RAM left on {qemu.MACHINE} for the stack, heap and .data once the target's regions are mapped")
    for region in gen.plan.used:
        need = gen.plan.total(region)
        if region in regions and need > regions[region][1]:
            raise ToolchainError(
                f"region {region} needs {need:,} B but the emulated board maps only {regions[region][1]:,} B for it",
                where=f"target {target.name!r} on {qemu.MACHINE}",
                hint="use an int8 KV cache, a smaller model, or move buffers with the *_region options",
            )
    # RAM-resident weights are initialised data: QEMU loads them where the application would copy them
    ram_weights = {weights_section(r) for r in gen.plan.regions.values() if r.kind.value == "ram"}
    kinds = {r.name: r.kind.value for r in target.regions}
    placements, bss = [], "SYS"
    for sec, region in sorted(sections.items()):
        if sec in (".rodata", ".text"):
            continue  # with the code
        if sec in (".bss", ".data"):
            bss = region
            continue
        placements.append(qemu.Placement(sec, region, load=sec in ram_weights or kinds[region] == "flash", align=16))
    mems = [*qemu.memories(target, regions), qemu.Memory("SYS", *hole, True)]
    return qemu.linker_script(mems, placements, code=qemu.code_region(target, regions), ram="SYS", bss=bss)


def build_qemu(gen, target, workdir: Path, prompt: str, steps: int, temperature: float = 0.0, topp: float = 0.9,  # type: ignore[no-untyped-def]
               seed: int = 42, ids: bool = False) -> Path:  # fmt: skip
    """Write the generated decoder, a QEMU main and a linker script for ``target`` into ``workdir``; build the ELF."""
    from tinyc.backends import qemu
    from tinyc.backends.llm import write_generated

    src = workdir / "src"
    write_generated(gen, src)
    (src / "main_qemu.c").write_text(qemu_main(gen.name, prompt, steps, temperature, topp, seed, ids), encoding="utf-8")
    script = workdir / f"{gen.name}.ld"
    script.write_text(qemu_linker_script(gen, target), encoding="utf-8")
    sources = [src / "main_qemu.c", src / f"{gen.name}.c", src / f"{gen.name}_weights.c", src / "tinyc_llm.c"]
    return qemu.build_firmware(sources, script, workdir / f"{gen.name}.elf", include_dirs=[src])
