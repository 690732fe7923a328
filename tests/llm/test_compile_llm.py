"""compile_llm for real targets: placement into regions, deterministic output, cross-compilation, errors."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from tinyc.backends.llm import generate_c
from tinyc.backends.llm.cdata import c_float, c_identifier, c_string_literal
from tinyc.errors import MemoryPlanError, TinycError
from tinyc.llm.model import DecoderConfig, random_decoder
from tinyc.llm.options import LlmOptions, NumFormat
from tinyc.llm.runner import compile_llm
from tinyc.llm.tokenizer import synthetic_tokenizer
from tinyc.targets import load_target

INT8 = {"weights": "int8", "kv_cache": "int8"}


def test_stm32h7_float_places_kv_cache_in_sdram(tmp_path, stories260k, tok512) -> None:
    art = compile_llm(stories260k, tok512, "stm32h7", tmp_path / "f32")
    names = sorted(p.name for p in art.files)
    assert names == sorted(
        [
            "stories260k.c",
            "stories260k.h",
            "stories260k_weights.c",
            "stories260k_weights.h",
            "stories260k.mk",
            "stories260k_sections.ld",
            "tinyc_llm.c",
            "tinyc_llm.h",
            "report.json",
        ]
    )
    assert ".sdram_bss (NOLOAD)" in (tmp_path / "f32" / "stories260k_sections.ld").read_text()
    regions = json.loads((tmp_path / "f32" / "report.json").read_text())["regions"]
    assert regions["FLASH"]["weights"] >= 1_040_000 and regions["SDRAM"]["kv_cache"] == 655_360
    assert "kv_cache" not in regions["DTCM"]


def test_stm32h7_int8_kv_cache_fits_sram(tmp_path, stories260k, tok512) -> None:
    art = compile_llm(stories260k, tok512, "stm32h7", tmp_path / "i8", INT8)
    rep = art.report
    assert rep["weights"] == "int8" and rep["kv_cache"] == "int8"
    kv_region = next(name for name, r in rep["regions"].items() if r.get("kv_cache"))
    assert kv_region in ("DTCM", "AXI_SRAM", "SRAM123", "SRAM4")
    assert rep["bytes"]["weights"] < 300_000 and rep["regions"]["FLASH"]["total"] < 300_000
    src = (tmp_path / "i8" / "stories260k.c").read_text()
    assert 'TINYC_SECTION(".axisram_bss")' in src and "tinyc_llm_matmul_q8" in src


def test_generated_c_is_deterministic(model260k, tokenizer512) -> None:
    t = load_target("stm32h7")
    opts = LlmOptions(weights=NumFormat.INT8, kv_cache=NumFormat.INT8)
    a = generate_c(model260k, tokenizer512, t, opts).files
    b = generate_c(model260k, tokenizer512, t, opts).files
    assert a == b


def test_model_too_big_names_the_buffer(model260k, tokenizer512) -> None:
    t = load_target("cortex-m7", region_sizes={"FLASH": "2M", "SRAM": "128K", "EXT_RAM": "512K"})
    with pytest.raises(MemoryPlanError, match=r"kv_cache buffer kv \(655,360 B\) does not fit"):
        generate_c(model260k, tokenizer512, t, LlmOptions())


def test_forced_region(model260k, tokenizer512) -> None:
    gen = generate_c(
        model260k, tokenizer512, load_target("stm32h7"), LlmOptions(kv_cache=NumFormat.INT8, kv_region="SDRAM")
    )
    assert gen.plan.region_of["kv"].name == "SDRAM"
    with pytest.raises(TinycError, match="no memory region 'NOPE'"):
        generate_c(model260k, tokenizer512, load_target("stm32h7"), LlmOptions(kv_region="NOPE"))


def test_refuses_non_tinyc_folder(tmp_path, stories260k, tok512) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(TinycError, match="not written by tinyc"):
        compile_llm(stories260k, tok512, "stm32h7", tmp_path / "mine")
    assert (tmp_path / "mine" / "notes.txt").exists()


def test_c_literals_and_names() -> None:
    assert c_identifier("3-weird name!") == "m_3_weird_name"
    assert c_identifier("int") == "m_int" and c_identifier("") == "model"
    assert c_float(0.1) == "0x1.99999ap-4f" and c_float(-0.0) == "-0.0f" and c_float(1.0) == "0x1p+0f"
    assert c_string_literal(b'a"?\\\x00\xff9') == '"a\\042\\077\\134\\000\\3779"'


def _cross_compile(src_dir, flags: list[str], cc: str) -> None:  # type: ignore[no-untyped-def]
    for c_file in sorted(src_dir.glob("*.c")):
        subprocess.run([cc, *flags, "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-c", str(c_file), "-o", str(c_file.with_suffix(".o"))],
                       check=True, capture_output=True, text=True)  # fmt: skip


def test_gqa_separate_classifier_compiles_for_cortex_m7(tmp_path) -> None:
    """Sections and DSP intrinsics: the generated C compiles for the Cortex-M7 and the host, with -pedantic."""
    cfg = DecoderConfig(
        dim=48, hidden_dim=100, n_layers=2, n_heads=6, n_kv_heads=2, vocab_size=300, seq_len=32, shared_classifier=False
    )
    model = random_decoder(cfg, seed=1)
    art = compile_llm(model, synthetic_tokenizer(300), "stm32h7", tmp_path / "out", {**INT8, "group_size": 32})
    assert art.report["group_sizes"]["cls"] == 32 and art.report["group_sizes"]["w2"] == 32
    _cross_compile(tmp_path / "out", ["-pedantic", "-Wno-overlength-strings"], "gcc")
    if shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("arm-none-eabi-gcc not installed")
    _cross_compile(
        tmp_path / "out", ["-mcpu=cortex-m7", "-mfpu=fpv5-d16", "-mfloat-abi=hard", "-mthumb"], "arm-none-eabi-gcc"
    )
    heads = subprocess.run(
        ["arm-none-eabi-objdump", "-h", str(tmp_path / "out" / "random_llama.o")], capture_output=True, text=True
    ).stdout
    assert ".dtcm_bss" in heads
    dis = subprocess.run(
        ["arm-none-eabi-objdump", "-d", str(tmp_path / "out" / "tinyc_llm.o")], capture_output=True, text=True
    ).stdout
    assert "smlad" in dis and "sxtb16" in dis
