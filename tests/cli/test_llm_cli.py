"""`tinyc run-llm` and `tinyc compile` of a llama2.c checkpoint, as a user runs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tinyc.testing import shared_model


def tinyc(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tinyc.cli", *args], capture_output=True, text=True, timeout=600)


def reference_ids() -> dict[str, list[str]]:
    text = shared_model("llama2c/stories260K_greedy_ids.txt").read_text()
    out: dict[str, list[str]] = {}
    prompt = None
    for line in text.splitlines():
        if line.startswith("prompt="):
            prompt = line[len("prompt="):]
        elif line.startswith("ids=") and prompt is not None:
            out[prompt] = line[len("ids="):].split()
    return out


@pytest.mark.parametrize("which", [0, 1])
def test_run_llm_ids_match_llama2c(which: int) -> None:
    model = shared_model("llama2c/stories260K.bin")
    tok = shared_model("llama2c/tok512.bin")
    prompt, ids = list(reference_ids().items())[which]
    r = tinyc("run-llm", str(model), "--tokenizer", str(tok), "--prompt", prompt, "--steps", "256", "--temperature", "0", "--ids")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ids


def test_compile_llm_for_stm32h7(tmp_path: Path) -> None:
    model = shared_model("llama2c/stories260K.bin")
    tok = shared_model("llama2c/tok512.bin")
    out = tmp_path / "build"
    r = tinyc("compile", str(model), "--tokenizer", str(tok), "--target", "stm32h7", "--int8", "--kv-cache", "int8", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert (out / "stories260k.c").exists() and "AXI_SRAM" in r.stdout
    r = tinyc("compile", str(model), "--target", "stm32h7", "-o", str(tmp_path / "b2"))
    assert r.returncode == 1 and "--tokenizer" in r.stderr and not (tmp_path / "b2").exists()
