"""stories260K as Cortex-M7 firmware on QEMU mps2-an500: the story, the ids, instruction counts."""

from __future__ import annotations

import shutil

import pytest

from tinyc.llm.runner import run_llm_qemu

pytestmark = pytest.mark.qemu


@pytest.fixture(autouse=True)
def _tools() -> None:
    for tool in ("arm-none-eabi-gcc", "qemu-system-arm"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not installed")


def test_int8_story_on_emulated_m7(stories260k, tok512, host_int8) -> None:
    run = run_llm_qemu(
        stories260k, tok512, "Once upon a time", 48, int8=True, target="stm32h7", options={"kv_cache": "int8"}
    )
    assert run.stdout.startswith("Once upon a time, there was a little girl named Lily.")
    assert run.stdout == host_int8.generate("Once upon a time", 48)
    counts = run.instructions
    assert counts["tokens"] == 48 and 100_000 < counts["per_token"] < 20_000_000
    assert counts["instructions"] == pytest.approx(counts["per_token"] * 48, rel=1e-3)


def test_float_ids_on_emulated_m7_match_llama2c(stories260k, tok512, greedy_ids) -> None:
    """float weights, KV cache in the (emulated) SDRAM: the same ids as llama2.c."""
    run = run_llm_qemu(stories260k, tok512, "Tim went to the", 40, int8=False, ids=True, target="stm32h7")
    assert [int(x) for x in run.stdout.split()] == greedy_ids["Tim went to the"][:40]
