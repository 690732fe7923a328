"""The kernels' prepared requantization forms (tinyc_nn_internal.h: tinyc_rq kinds 0/1/2, the SMLAL form
tinyc_rq1) against the reference arm_nn_requantize, on millions of seeded random and boundary cases, built with
gcc under UBSan. The model tests reach a rounding difference only rarely; this pins every form to the bit."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from harness import RUNTIME

GCC = shutil.which("gcc")

PROGRAM = r"""
#include <stdio.h>
#include "tinyc_nn_internal.h"

static uint64_t state = 0x9E3779B97F4A7C15ull;
static uint32_t next(void)
{
    state ^= state << 13; state ^= state >> 7; state ^= state << 17;
    return (uint32_t)(state >> 16);
}

static const int32_t EDGE_ACC[] = {0, 1, -1, 2, -2, 127, -128, 1 << 20, -(1 << 20), 1 << 30, -(1 << 30),
                                   INT32_MAX, INT32_MIN, INT32_MAX - 1, INT32_MIN + 1};
static const int32_t EDGE_MULT[] = {0, 1, 1 << 30, (1 << 30) + 1, INT32_MAX, INT32_MAX - 1, 1518500250, INT32_MIN};

static long mismatches = 0, rq1_checked = 0;

static void check(int32_t acc, int32_t mult, int32_t shift, int32_t offset)
{
    const int32_t want = arm_nn_requantize(acc, mult, shift);
    const tinyc_rq r = tinyc_rq_make(mult, shift);
    const int32_t lo = -128, hi = 127;
    if (tinyc_rq_value(&r, acc) != want) { if (mismatches++ < 5) printf("rq_value %d %d %d\n", acc, mult, shift); }
    if (want > (1 << 30) || want < -(1 << 30)) return;  /* the int8 forms add the offset in int32, as the reference kernels do */
    int32_t want8 = want + offset;  /* the reference's int8 output: offset added, clamped */
    want8 = want8 < lo ? lo : (want8 > hi ? hi : want8);
    if (tinyc_rq_apply(&r, acc, offset, lo, hi) != want8) { if (mismatches++ < 5) printf("rq_apply %d %d %d\n", acc, mult, shift); }
    if (r.kind == 1 && tinyc_rq_apply1(&r, acc, offset, lo, hi) != want8) { if (mismatches++ < 5) printf("rq_apply1 %d %d %d\n", acc, mult, shift); }
    if (TINYC_RQ1_OK(mult, shift)) {
        const tinyc_rq1 r1 = tinyc_rq1_make(mult, shift);
        ++rq1_checked;
        if (tinyc_rq1_s8(&r1, acc, offset) != want8) { if (mismatches++ < 5) printf("rq1 %d %d %d\n", acc, mult, shift); }
    }
}

int main(void)
{
    long n = 0;
    for (unsigned a = 0; a < sizeof EDGE_ACC / sizeof *EDGE_ACC; ++a)
        for (unsigned m = 0; m < sizeof EDGE_MULT / sizeof *EDGE_MULT; ++m)
            for (int32_t s = -31; s <= 30; ++s, ++n)
                check(EDGE_ACC[a], EDGE_MULT[m], s, (int32_t)(next() % 256) - 128);
    for (long i = 0; i < 3000000; ++i, ++n) {
        /* accumulators of every magnitude, quantize_multiplier's multipliers in [2^30, 2^31), shifts -31..30 */
        const int32_t acc = (int32_t)next() >> (next() % 32);
        const int32_t mult = (int32_t)(0x40000000u | (next() & 0x3FFFFFFFu));
        const int32_t shift = (int32_t)(next() % 62) - 31;
        check(acc, mult, shift, (int32_t)(next() % 256) - 128);
    }
    printf("%ld cases, %ld through tinyc_rq1, %ld mismatches\n", n, rq1_checked, mismatches);
    return mismatches != 0;
}
"""


@pytest.mark.skipif(GCC is None, reason="gcc not installed")
def test_prepared_requantization_equals_the_reference(tmp_path: Path) -> None:
    src = tmp_path / "rq.c"
    src.write_text(PROGRAM)
    exe = tmp_path / "rq"
    flags = ["-std=c99", "-O1", "-Wall", "-Wextra", "-Werror", "-fsanitize=undefined", "-fno-sanitize-recover=all"]
    build = subprocess.run(
        [GCC, *flags, f"-I{RUNTIME / 'include'}", f"-I{RUNTIME / 'src'}", str(src), "-o", str(exe)], capture_output=True, text=True
    )
    assert build.returncode == 0, build.stderr
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and "runtime error" not in run.stderr, run.stdout + run.stderr
    cases, rq1 = (int(w) for w in run.stdout.split()[0:4:2])
    assert cases > 3_000_000 and rq1 > 1_000_000, run.stdout
