"""Memory-planning flags of ``tinyc analyze`` / ``tinyc compile``."""

from __future__ import annotations

import argparse
import json

import pytest

from tinyc.errors import TinycError
from tinyc.memory.cliargs import add_memory_args, plan_options_from_args


def _parse(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_memory_args(p)
    return p.parse_args(list(argv))


def test_flags_become_plan_options() -> None:
    opts = plan_options_from_args(_parse("--place", "a=SDRAM", "--place", "x=y=DTCM", "--weights-region", "SDRAM", "--io-outside-arena", "--allocator", "exact", "--keep-order"))
    assert dict(opts.placement) == {"a": "SDRAM", "x=y": "DTCM"}
    assert (opts.weights_region, opts.io_in_arena, opts.allocator, opts.reorder) == ("SDRAM", False, "exact", False)
    default = plan_options_from_args(_parse())
    assert (default.io_in_arena, default.allocator, default.reorder, dict(default.placement)) == (True, "auto", True, {})
    with pytest.raises(TinycError, match="VALUE=REGION"):
        plan_options_from_args(_parse("--place", "nothing"))


def test_analyze_places_a_tensor(ad_float, capsys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tinyc.cli import main
    from tinyc.targets import targets_dir

    # the stm32h7 memories with a backend that does not exist: the generic pipeline runs (no quantization)
    text = (targets_dir() / "stm32h7.toml").read_text().replace('name = "cmsis_nn"', 'name = "no-backend"')
    board = tmp_path / "board.toml"
    board.write_text(text)
    rc = main(["analyze", str(ad_float), "--target", str(board), "--json", "--place", "input_1=AXI_SRAM", "--weights-region", "SDRAM"])
    assert rc == 0
    data = json.loads(capsys.readouterr().out)["memory"]
    assert data["schema"] == "tinyc.memory-plan/1"
    assert [b["region"] for b in data["buffers"] if "input_1" in b["values"]] == ["AXI_SRAM"]
    assert {w["region"] for w in data["weights"]["placements"]} == {"SDRAM"}
