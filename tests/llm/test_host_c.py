"""The generated C decode loop, built with the host gcc (ASan + UBSan), against llama2.c and the NumPy reference."""

from __future__ import annotations

import numpy as np
import pytest

from tinyc.llm.generate import generate
from tinyc.llm.options import LlmOptions, NumFormat
from tinyc.llm.reference import Decoder
from tinyc.llm.sampler import Sampler


def test_float_greedy_ids_match_llama2c(host_float, greedy_ids) -> None:
    for prompt, ids in greedy_ids.items():
        out = host_float.generate(prompt, 256, ids=True)
        assert [int(x) for x in out.split()] == ids, prompt


def test_float_story_text(host_float, story_text) -> None:
    assert host_float.generate("Once upon a time", 256).encode() == story_text


def test_float_logits_match_reference(host_float, model260k, tokenizer512, greedy_ids) -> None:
    ids = greedy_ids["Tim went to the"][:40]
    c_logits = host_float.logits(ids)
    ref = np.array(
        generate(Decoder(model260k), tokenizer512, "Tim went to the", 40, keep_logits=True, forced=ids).logits
    )
    np.testing.assert_allclose(c_logits, ref, rtol=0, atol=2e-4)


def test_int8_logits_match_int8_reference(host_int8, model260k, tokenizer512, greedy_ids) -> None:
    ids = greedy_ids["Once upon a time"][:64]
    c_logits = host_int8.logits(ids)
    opts = LlmOptions(weights=NumFormat.INT8, kv_cache=NumFormat.INT8)
    ref = np.array(
        generate(Decoder(model260k, opts), tokenizer512, "Once upon a time", 64, keep_logits=True, forced=ids).logits
    )
    np.testing.assert_allclose(c_logits, ref, rtol=0, atol=2e-3)


def test_int8_greedy_starts_like_float(host_int8, greedy_ids) -> None:
    for prompt, ids in greedy_ids.items():
        got = [int(x) for x in host_int8.generate(prompt, 256, ids=True).split()]
        assert got[:16] == ids[:16], prompt


def test_sampling_reproducible_and_matches_reference(host_float, model260k, tokenizer512) -> None:
    a = host_float.generate("Lily", 40, temperature=0.8, topp=0.9, seed=7, ids=True)
    b = host_float.generate("Lily", 40, temperature=0.8, topp=0.9, seed=7, ids=True)
    c = host_float.generate("Lily", 40, temperature=0.8, topp=0.9, seed=8, ids=True)
    assert a == b and a != c
    ref = generate(Decoder(model260k), tokenizer512, "Lily", 40, Sampler(0.8, 0.9, seed=7)).ids
    assert [int(x) for x in a.split()] == ref
    full = host_float.generate("Lily", 40, temperature=1.0, topp=1.0, seed=3, ids=True)
    assert [int(x) for x in full.split()] == generate(
        Decoder(model260k), tokenizer512, "Lily", 40, Sampler(1.0, 1.0, seed=3)
    ).ids


@pytest.mark.parametrize(
    "text",
    [
        "Once upon a time",
        "",
        " ",
        "a",
        "Tom and   Lily's big-red ball!!",
        "naïve café 🙂 ✓",
        "\n\nThe end.\n",
        "x" * 60,
    ],
)
def test_c_tokenizer_matches_reference(host_float, tokenizer512, text: str) -> None:
    ids, pieces = host_float.encode(text)
    assert ids == tokenizer512.encode(text)
    assert pieces == [tokenizer512.decode_piece(a, b) for a, b in zip(ids, ids[1:])]


def test_prompt_too_long_is_an_error(host_float) -> None:
    from tinyc.errors import ToolchainError

    with pytest.raises(ToolchainError, match="longer than 1024 bytes"):
        host_float.generate("a" * 1025, 8)


@pytest.mark.parametrize("group_size", [0, 6, 32])
def test_group_sizes_in_c(tmp_path, group_size: int) -> None:
    """Per-row groups, groups that are not a multiple of 4 (the portable path), ragged last groups."""
    from tinyc.llm.model import DecoderConfig, random_decoder
    from tinyc.llm.runner import build_host_program
    from tinyc.llm.tokenizer import synthetic_tokenizer

    cfg = DecoderConfig(
        dim=48, hidden_dim=100, n_layers=2, n_heads=6, n_kv_heads=3, vocab_size=300, seq_len=32, shared_classifier=False
    )
    model, tok = random_decoder(cfg, seed=4), synthetic_tokenizer(300)
    opts = LlmOptions(weights=NumFormat.INT8, group_size=group_size, kv_cache=NumFormat.INT8, kv_group_size=24)
    prog = build_host_program(model, tok, opts, workdir=tmp_path, sanitize=True)
    ids = [5, 77, 123, 200, 9, 64]
    ref = np.array(generate(Decoder(model, opts), tok, "", 6, keep_logits=True, forced=ids).logits)
    np.testing.assert_allclose(prog.logits(ids), ref, atol=1e-3, rtol=0)
