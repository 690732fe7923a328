"""Targets as data: the shipped TOML files, the schema's checks, user files, resizing, listing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tinyc.errors import TargetError
from tinyc.targets import (
    Content,
    MemoryKind,
    Target,
    list_targets,
    load_target,
    parse_size,
    target_from_dict,
    targets_dir,
)
from tinyc.targets.describe import targets_table

SHIPPED = [
    "coral-devboard",
    "coral-edgetpu",
    "cortex-m7",
    "jetson-nano",
    "jetson-orin",
    "jetson-xavier",
    "openmv-h7",
    "portenta-h7",
    "rpi-cm4",
    "stm32h7",
    "stm32h743",
]
KiB, MiB = 1024, 1024 * 1024


def test_shipped_targets_load_and_are_named_after_their_files() -> None:
    assert list_targets() == SHIPPED
    for name in SHIPPED:
        t = load_target(name)
        assert isinstance(t, Target) and t.name == name
        assert t.backend in ("cmsis_nn", "tflite", "tensorrt")
        assert t.activations and t.weights
        assert (targets_dir() / f"{name}.toml").is_file()


def test_stm32h7_memory_map_follows_the_reference_manual() -> None:
    # RM0433 memory map / STM32H7 device header; UM2411 for the Discovery kit's SDRAM
    t = load_target("stm32h7")
    regions = {r.name: (r.base, r.size, r.kind, r.writable) for r in t.regions}
    assert regions == {
        "FLASH": (0x08000000, 2 * MiB, MemoryKind.FLASH, False),
        "DTCM": (0x20000000, 128 * KiB, MemoryKind.RAM, True),
        "AXI_SRAM": (0x24000000, 512 * KiB, MemoryKind.RAM, True),
        "SRAM123": (0x30000000, 288 * KiB, MemoryKind.RAM, True),
        "SRAM4": (0x38000000, 64 * KiB, MemoryKind.RAM, True),
        "SDRAM": (0xD0000000, 32 * MiB, MemoryKind.RAM, True),
        "QSPI": (0x90000000, 128 * MiB, MemoryKind.FLASH, False),
    }
    assert t.cpu is not None and (t.cpu.core, t.cpu.clock_mhz, t.cpu.dsp, t.cpu.mve) == ("cortex-m7", 480, True, False)
    assert t.weights == ("FLASH", "SDRAM")
    assert t.activations == ("DTCM", "AXI_SRAM", "SRAM123", "SRAM4", "SDRAM")
    speeds = [t.region(n).speed for n in t.activations]
    assert speeds == sorted(speeds)
    assert t.region("DTCM").capacity == 112 * KiB  # 16 KiB reserved for the stack
    assert all(r.section for r in t.regions)


def test_boards_differ_where_they_should() -> None:
    nucleo = load_target("stm32h743")
    assert not nucleo.has_region("SDRAM") and nucleo.weights == ("FLASH",)
    portenta = load_target("portenta-h7")
    assert (portenta.region("SDRAM").base, portenta.region("SDRAM").size) == (0x60000000, 8 * MiB)
    assert load_target("jetson-nano").backend_options["precision"] == "fp16"
    assert load_target("coral-edgetpu").backend_options["edgetpu"] is True
    assert load_target("jetson-orin").backend_options["dla_cores"] == 2


def test_generic_cortex_m7_is_sized_by_the_user() -> None:
    t = load_target("cortex-m7", region_sizes={"SRAM": "256K", "FLASH": 1 * MiB})
    assert t.region("SRAM").size == 256 * KiB and t.region("FLASH").size == MiB
    assert t.region("SRAM").capacity == 256 * KiB - t.region("SRAM").reserved
    with pytest.raises(TargetError, match="no such region"):
        load_target("cortex-m7", region_sizes={"DTCM": "64K"})
    with pytest.raises(TargetError, match="overlap"):
        load_target("cortex-m7", region_sizes={"SRAM": "2G"})


def test_user_target_file(tmp_path: Path) -> None:
    text = (targets_dir() / "stm32h743.toml").read_text().replace('name = "stm32h743"', 'name = "my-board"')
    path = tmp_path / "my_board.toml"
    path.write_text(text)
    t = load_target(path)
    assert t.name == "my-board" and t.path == path
    assert load_target(str(path)).name == "my-board"


def test_sizes() -> None:
    assert parse_size(4096) == 4096
    assert parse_size("512K") == parse_size("512 KiB") == parse_size("0x80000") == 512 * KiB
    assert parse_size("32M") == parse_size("32 MiB") == 32 * MiB
    assert parse_size("1.5K") == 1536
    assert parse_size("2G") == 2 * 1024 * MiB
    for bad in ("12 parsecs", True, 1.5, "K"):
        with pytest.raises(TargetError, match="byte count"):
            parse_size(bad)


def _minimal(**over: object) -> dict:
    data = {
        "name": "t",
        "backend": {"name": "cmsis_nn"},
        "memory": [
            {"name": "FLASH", "base": 0, "size": "64K", "kind": "flash", "section": ".rodata"},
            {"name": "RAM", "base": 0x20000000, "size": "16K", "kind": "ram", "section": ".bss"},
        ],
    }
    data.update(over)
    return data


def test_defaults_follow_kind_and_speed() -> None:
    t = target_from_dict(_minimal())
    assert t.weights == ("FLASH", "RAM") and t.activations == ("RAM",)
    assert t.region("FLASH").holds == frozenset({Content.WEIGHTS})
    assert t.region("RAM").holds == frozenset(Content)
    assert t.region("RAM").align == 16


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"nmae": "x"}, "unknown key nmae"),
        ({"backend": None}, "missing \\[backend\\]"),
        ({"name": "Bad Name"}, "lower case"),
        ({"cpu": {"core": "m7", "clock": 480}}, "did you mean clock_mhz"),
        ({"cpu": {"core": "m7", "dsp": "yes"}}, "'dsp' must be bool"),
        ({"defaults": {"activations": ["FLASH"]}}, "does not include 'activations'"),
        ({"defaults": {"weights": ["ROM"]}}, "unknown region 'ROM'"),
        ({"emulation": {"regions": {"RAM": 5}}}, "integer address"),
    ],
)
def test_schema_errors(change: dict, message: str) -> None:
    data = _minimal(**change)
    if change.get("backend", 1) is None:
        del data["backend"]
    with pytest.raises(TargetError, match=message):
        target_from_dict(data, where="board.toml")


@pytest.mark.parametrize(
    ("region", "message"),
    [
        ({"kind": "eeprom"}, "kind must be 'flash' or 'ram'"),
        ({"access": "wo"}, "access must be"),
        ({"size": 0}, "positive size"),
        ({"align": 12}, "power of two"),
        ({"reserved": "32K"}, "less than the size"),
        ({"holds": ["code"]}, "holds takes"),
        ({"name": "my-ram"}, "C identifiers"),
        ({"kind": "flash", "holds": ["activations"]}, "read-only region can only hold weights"),
        ({"section": ""}, "needs the linker section"),
        ({"base": 0x8000}, "overlap"),
        ({"colour": "red"}, "unknown key colour"),
    ],
)
def test_region_errors(region: dict, message: str) -> None:
    data = _minimal()
    ram = dict(data["memory"][1])  # type: ignore[index]
    ram.update(region)
    if region.get("section") == "":
        del ram["section"]
    data["memory"] = [data["memory"][0], ram]  # type: ignore[index]
    with pytest.raises(TargetError, match=message):
        target_from_dict(data)


def test_duplicate_region_names() -> None:
    data = _minimal()
    data["memory"] = [data["memory"][1], dict(data["memory"][1], base=0x30000000)]  # type: ignore[index]
    with pytest.raises(TargetError, match="repeated: RAM"):
        target_from_dict(data)


def test_unknown_target_and_bad_files(tmp_path: Path) -> None:
    with pytest.raises(TargetError, match="did you mean 'stm32h7'") as exc:
        load_target("stm32h8")
    assert "known targets" in (exc.value.hint or "")
    with pytest.raises(TargetError, match="not found"):
        load_target(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("name = \n")
    with pytest.raises(TargetError, match="not a valid TOML file") as exc2:
        load_target(bad)
    assert str(bad) in str(exc2.value)


def test_describe_and_table() -> None:
    text = load_target("stm32h7").describe()
    assert "0xD0000000" in text and "32 MiB" in text and "cmsis_nn" in text and "RM0433" in text
    table = targets_table([load_target(n) for n in list_targets()])
    assert all(n in table for n in SHIPPED)
    assert "DTCM 128 KiB" in table


def test_cli_lists_targets() -> None:
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "tinyc.cli", "targets"], capture_output=True, text=True, timeout=120)
    if r.returncode != 0 and "No module named" in r.stderr:
        pytest.skip("no tinyc.cli module")
    assert r.returncode == 0, r.stderr
    assert "stm32h7" in r.stdout and "jetson-orin" in r.stdout


def test_targets_are_values() -> None:
    a, b = load_target("stm32h7"), load_target("stm32h7")
    assert a == b and hash(a) == hash(b)
    assert {a: 1}[b] == 1
    assert a != load_target("stm32h743")
