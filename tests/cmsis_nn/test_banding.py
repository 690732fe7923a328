"""Banded in-place layers: less RAM, the same bits (host with sanitizers, and the Cortex-M7)."""

from __future__ import annotations

import dataclasses
from functools import partial
from pathlib import Path

import pytest
from cmsis_graphs import dscnn
from cmsis_helpers import ARM_GCC, QEMU, check_against_oracle, needs_gcc, samples

from tinyc.backends.cmsis_nn import plan_for
from tinyc.backends.cmsis_nn.banding import band_of, find_bands, inplace_rules
from tinyc.backends.cmsis_nn.harness import BuildInfo, build_host, build_qemu, run_harness
from tinyc.backends.cmsis_nn.io_boundary import strip_io_quantization
from tinyc.memory.liveness import INPLACE_RULES
from tinyc.passes.manager import run_passes
from tinyc.targets import load_target


def _int8(graph):  # type: ignore[no-untyped-def]
    return run_passes(graph, [strip_io_quantization])[0]


def test_bands_and_shifts_of_a_dscnn_chain() -> None:
    g = _int8(dscnn(16))
    bands = find_bands(g)
    by_name = {n.name: b for n, b in bands.bands.items()}
    assert set(by_name) == {"dw1", "pw1", "dw2", "pw2"}  # conv0 grows the tensor; the pool shrinks it
    row = 6 * 16
    assert by_name["dw1"].rows and by_name["dw1"].slide == (1 + 1) * row  # one row + pad_top
    assert by_name["dw2"].slide == (1 + 2) * row
    assert not by_name["pw1"].rows and (by_name["pw1"].size, by_name["pw1"].count, by_name["pw1"].slide) == (2, 36, 32)  # 72 pixels, <= 64 calls
    total = sum(b.slide for b in bands.bands.values())
    conv0 = g.node("conv0").output
    assert bands.shift[conv0] == total and bands.shift[g.node("pw2").output] == 0
    assert all(bands.extra[v] == total for v in bands.shift)


def test_what_cannot_run_in_bands() -> None:
    g = _int8(dscnn(16))
    assert band_of(g.node("conv0")) is None  # 3x3 convolution
    assert band_of(g.node("pool")) is None
    assert band_of(g.node("fc")) is None


def test_inplace_rules_are_restored() -> None:
    g = _int8(dscnn(16))
    before = dict(INPLACE_RULES)
    with inplace_rules({g.node("dw1")}):
        assert INPLACE_RULES["DepthwiseConv2D"](g.node("dw1"), 0)
        assert not INPLACE_RULES["DepthwiseConv2D"](g.node("dw2"), 0)
    assert INPLACE_RULES == before


def test_banded_plan_needs_less_ram_than_the_plain_one() -> None:
    g = _int8(dscnn(16))
    t = load_target("stm32h7")
    banded, bands = plan_for(g, t)
    plain, none = plan_for(g, dataclasses.replace(t, backend_options={**t.backend_options, "banded": False}))
    assert bands and not none
    assert banded.activation_bytes < plain.activation_bytes
    for node in bands.bands:
        assert banded.same_buffer(node.input(0), node.output)


@needs_gcc
@pytest.mark.parametrize("channels", [16, 6], ids=["c16", "c6-not-multiple-of-4"])
def test_banded_code_is_bit_exact_on_host(channels: int, compiled, tmp_path: Path) -> None:
    art = compiled(dscnn(channels), f"dscnn{channels}")
    src = (art.output_dir / f"dscnn{channels}.c").read_text()
    assert src.count("in place in") == 4
    info = BuildInfo.read(art.output_dir)
    exe = build_host(art.output_dir, tmp_path / "w", sanitize=True, opt="-O1")
    xs, fxs = samples(info, 6, seed=channels)
    res = run_harness(exe, info, tmp_path / "w", xs, fxs)
    check_against_oracle(partial(dscnn, channels), res, xs, fxs)


@pytest.mark.qemu
@pytest.mark.skipif(ARM_GCC is None or QEMU is None, reason="arm-none-eabi-gcc / qemu-system-arm not installed")
def test_banded_code_is_bit_exact_on_cortex_m7(compiled, tmp_path: Path) -> None:
    art = compiled(dscnn(16), "dscnn16")
    info = BuildInfo.read(art.output_dir)
    elf = build_qemu(art.output_dir, tmp_path / "m7", load_target("stm32h7"))
    xs, fxs = samples(info, 4, seed=7)
    res = run_harness(elf, info, tmp_path / "m7", xs, fxs, on="qemu")
    check_against_oracle(partial(dscnn, 16), res, xs, fxs)
