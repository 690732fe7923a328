"""Reports: JSON (the schema in docs/memory.md), the text table, the picture."""

from __future__ import annotations

import json
from pathlib import Path

from memgraphs import inception, residual

from tinyc.memory import PlanOptions, plan_memory
from tinyc.memory.plot import plot_plan
from tinyc.memory.report import SCHEMA
from tinyc.targets import load_target

STM32H7 = load_target("stm32h7")


def test_json_has_the_documented_fields() -> None:
    g = residual()
    plan = plan_memory(g, STM32H7, options=PlanOptions(placement={"act1": "SDRAM"}))
    data = json.loads(json.dumps(plan.to_json()))
    assert data["schema"] == SCHEMA == "tinyc.memory-plan/1"
    assert data["target"] == "stm32h7"
    assert data["order"] == [n.name for n in plan.order]
    act = data["activations"]
    assert act["peak_bytes"] == plan.activation_bytes
    assert act["lower_bound"] == plan.lower_bound
    assert act["ratio"] >= 1.0
    assert act["peak_node"] == plan.order[act["peak_step"]].name
    assert {"lower_bound_with_io", "lower_bound_without_io", "io_in_arena", "original_order_lower_bound"} <= set(act)
    regions = {r["name"]: r for r in data["regions"]}
    assert list(regions) == [r.name for r in STM32H7.regions]
    for r in data["regions"]:
        assert {"name", "size", "used", "capacity", "arena_bytes", "weights_bytes", "base", "section"} <= set(r)
        assert r["used"] == r["arena_bytes"] + r["weights_bytes"] <= r["capacity"]
    assert regions["SDRAM"]["arena_bytes"] > 0 and regions["DTCM"]["arena_bytes"] > 0
    assert sum(r["arena_bytes"] for r in data["regions"]) == act["peak_bytes"]
    for b in data["buffers"]:
        assert {"id", "name", "kind", "size", "first", "last", "region", "offset", "values"} <= set(b)
        assert b["first"] <= b["last"]
    assert any(b["region"] == "SDRAM" and "act1" in b["values"] for b in data["buffers"])


def test_text_table() -> None:
    plan = plan_memory(inception(), STM32H7)
    text = plan.text()
    assert text.startswith("memory plan for stm32h7")
    assert "lower bound" in text and "DTCM" in text and "buffers" in text
    assert "br3_wide" in text
    short = plan.text(max_buffers=3)
    assert "3 largest of" in short


def test_plot_writes_one_panel_per_used_region(tmp_path: Path) -> None:
    import matplotlib.image

    plan = plan_memory(residual(), STM32H7, options=PlanOptions(placement={"act1": "SDRAM", "act2": "AXI_SRAM"}))
    out = plot_plan(plan, tmp_path / "sub" / "plan.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    img = matplotlib.image.imread(out)
    one = plot_plan(plan_memory(residual(), STM32H7), tmp_path / "one.png")
    # three panels are taller than one
    assert img.shape[0] > matplotlib.image.imread(one).shape[0]
    svg = plot_plan(plan, tmp_path / "plan.svg")
    assert b"<svg" in svg.read_bytes()[:400]
