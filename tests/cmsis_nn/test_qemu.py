"""Generated C on the emulated Cortex-M7 (QEMU mps2-an500): bit-exact, deterministic instruction counts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cmsis_graphs import cnn, mlp, wide
from cmsis_helpers import check_against_oracle, needs_qemu, samples

from tinyc.backends.cmsis_nn.harness import BuildInfo, build_qemu, qemu_linker_script, run_harness
from tinyc.backends.qemu import emulation_map
from tinyc.targets import load_target

pytestmark = needs_qemu


@pytest.mark.parametrize("factory", [mlp, cnn], ids=["mlp", "cnn"])
def test_bit_exact_on_cortex_m7(factory, compiled, tmp_path: Path) -> None:
    art = compiled(factory(), factory.__name__)
    info = BuildInfo.read(art.output_dir)
    elf = build_qemu(art.output_dir, tmp_path / "m7", load_target("stm32h7"))
    xs, fxs = samples(info, 8, seed=11)
    res = run_harness(elf, info, tmp_path / "m7", xs, fxs, on="qemu")
    check_against_oracle(factory, res, xs, fxs)
    # instruction counts: deterministic from one run to the next, per layer for every kernel call
    again = run_harness(elf, info, tmp_path / "m7", [x[:2] for x in xs], on="qemu")
    assert again.ticks[:2] == res.ticks[:2]
    assert again.layer_ticks == res.layer_ticks
    kernel_layers = [layer["index"] for layer in info.layers if layer["kernel"]]
    assert sorted(res.layer_ticks) == kernel_layers
    total = res.instructions[0]
    inside = sum(res.layer_instructions.values())
    assert 0 < inside <= total
    assert total - inside < 0.02 * total + 400, "instructions outside kernel calls"


def test_generic_target_shares_its_sram_with_the_harness(compiled, tmp_path: Path) -> None:
    """cortex-m7 maps all emulator RAM to its regions: the harness lives in the SRAM region's reserved bytes."""
    t = load_target("cortex-m7")
    regions, free = emulation_map(t)
    assert free is None and regions["SRAM"] == (0x20000000, 0x400000)
    art = compiled(mlp(), "mlp", target="cortex-m7")
    info = BuildInfo.read(art.output_dir)
    script = qemu_linker_script(t, {".bss": "SRAM", ".rodata": "FLASH"}, "FLASH")
    assert "> SRAM" in script and "HOST_RAM" not in script
    elf = build_qemu(art.output_dir, tmp_path / "m7", t)
    xs, fxs = samples(info, 3, seed=2)
    res = run_harness(elf, info, tmp_path / "m7", xs, fxs, on="qemu")
    check_against_oracle(mlp, res, xs, fxs)


def test_stm32h7_regions_map_onto_the_emulator() -> None:
    regions, free = emulation_map(load_target("stm32h7"))
    assert regions["DTCM"] == (0x20000000, 128 * 1024)
    assert regions["SDRAM"] == (0x60000000, 16 * 1024 * 1024)  # 32 MiB on the board, 16 MiB emulated
    assert regions["QSPI"] == (0x200000, 2 * 1024 * 1024)  # not in the file's map: the flash the emulator has left
    assert free is not None and free[0] >= 0x200F8000 and free[1] >= 1024 * 1024


def test_arenas_in_several_regions_run_at_their_emulated_addresses(compiled, tmp_path: Path) -> None:
    art = compiled(wide(), "wide")
    rep = json.loads((art.output_dir / "report.json").read_text())
    assert len(rep["ram_per_region"]) >= 2, rep["ram_per_region"]  # DTCM is too small for conv1's input and output
    info = BuildInfo.read(art.output_dir)
    elf = build_qemu(art.output_dir, tmp_path / "m7", load_target("stm32h7"))
    script = (tmp_path / "m7" / "qemu.ld").read_text()
    for section, region in rep["sections"].items():
        if section != ".rodata":
            assert f"{section} (NOLOAD)" in script and f"> {region}" in script
    xs, fxs = samples(info, 2, seed=5)
    res = run_harness(elf, info, tmp_path / "m7", xs, fxs, on="qemu")
    check_against_oracle(wide, res, xs, fxs)


def _cmsis_targets() -> list[str]:
    from tinyc.targets import list_targets

    return [n for n in list_targets() if load_target(n).backend == "cmsis_nn"]


@pytest.mark.parametrize("target", _cmsis_targets())
def test_every_cmsis_nn_target_runs_on_the_emulator(target: str, compiled, tmp_path: Path) -> None:
    art = compiled(cnn(), "cnn", target=target)
    info = BuildInfo.read(art.output_dir)
    elf = build_qemu(art.output_dir, tmp_path / "m7", load_target(target))
    xs, fxs = samples(info, 2, seed=4)
    res = run_harness(elf, info, tmp_path / "m7", xs, fxs, on="qemu")
    check_against_oracle(cnn, res, xs, fxs)
