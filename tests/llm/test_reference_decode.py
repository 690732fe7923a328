"""The NumPy reference decoder and tokenizer against llama2.c's outputs, and the int8 quantizers."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from tinyc.errors import TinycError
from tinyc.llm.generate import generate
from tinyc.llm.model import DecoderConfig, random_decoder
from tinyc.llm.options import LlmOptions, NumFormat
from tinyc.llm.quant import matmul_q8, quantize_activation, quantize_groups, round_half_away
from tinyc.llm.reference import Decoder
from tinyc.llm.sampler import Sampler
from tinyc.llm.tokenizer import BOS, synthetic_tokenizer


def test_greedy_ids_match_llama2c(model260k, tokenizer512, greedy_ids) -> None:
    dec = Decoder(model260k)
    for prompt, ids in greedy_ids.items():
        assert generate(dec, tokenizer512, prompt, 256).ids == ids, prompt


def test_story_text_matches_llama2c(model260k, tokenizer512, story_text) -> None:
    text = generate(Decoder(model260k), tokenizer512, "Once upon a time", 256).text
    assert text + b"\n" == story_text


def test_encode_prompts(tokenizer512, greedy_ids) -> None:
    assert tokenizer512.encode("Once upon a time") == [BOS, *greedy_ids["Once upon a time"][:4]]
    assert tokenizer512.encode("") == [BOS]
    assert tokenizer512.encode("hi", bos=False, eos=True)[-1] == 2


def test_encode_byte_fallback_and_decode(tokenizer512) -> None:
    text = "Tom 🙂 é"
    ids = tokenizer512.encode(text)
    assert tokenizer512.byte_token(0xF0) in ids  # the emoji is not in the 512-token vocabulary
    pieces = b"".join(tokenizer512.decode_piece(a, b) for a, b in zip(ids, ids[1:]))
    assert pieces == text.encode()


def test_decode_rules(tokenizer512) -> None:
    space_once = tokenizer512.encode("Once")[1]
    assert tokenizer512.decode_piece(BOS, space_once) == b"Once"
    assert tokenizer512.decode_piece(space_once, space_once) == b" Once"
    assert tokenizer512.decode_piece(5, 3 + 0x0A) == b"\n"


def test_sampler_reproducible_and_in_range() -> None:
    logits = np.random.default_rng(0).standard_normal(300).astype(np.float32)
    a = [Sampler(0.8, 0.9, seed=7).sample(logits) for _ in range(3)]
    s1, s2 = Sampler(1.0, 0.9, seed=11), Sampler(1.0, 0.9, seed=11)
    assert [s1.sample(logits) for _ in range(50)] == [s2.sample(logits) for _ in range(50)]
    assert len(set(a)) == 1
    assert Sampler(0.0).sample(logits) == int(np.argmax(logits))
    s3 = Sampler(1.0, 0.0, seed=3)
    assert all(0 <= s3.sample(logits) < 300 for _ in range(20))
    # top-p 0.5 on a peaked distribution: only the top tokens come out
    peaked = np.zeros(300, np.float32)
    peaked[[5, 9]] = 8.0
    s4 = Sampler(1.0, 0.5, seed=5)
    assert {s4.sample(peaked) for _ in range(40)} <= {5, 9}


@given(arrays(np.float32, (7, 45), elements=st.floats(-50, 50, width=32)), st.sampled_from([0, 4, 16, 45, 64]))
def test_group_quantization_error_bound(w: np.ndarray, gs: int) -> None:
    q = quantize_groups(w, gs)
    step = np.repeat(q.scales, q.group_size, axis=1)[:, : w.shape[1]]
    assert np.all(np.abs(q.dequantize() - w) <= 0.5 * step * (1 + 1e-6) + 1e-30)
    assert q.q.min() >= -127 and q.q.max() <= 127


@given(arrays(np.float32, 70, elements=st.floats(-1e3, 1e3, width=32)), st.sampled_from([8, 32, 64, 70]))
def test_activation_quantization(x: np.ndarray, gs: int) -> None:
    q, s = quantize_activation(x, gs)
    recon = q.astype(np.float32) * np.repeat(s, gs)[:70]
    assert np.all(np.abs(recon - x) <= 0.51 * np.repeat(s, gs)[:70] + 1e-30)


def test_round_half_away() -> None:
    np.testing.assert_array_equal(
        round_half_away(np.array([0.5, 1.5, -0.5, -2.5, 0.49999997], np.float32)), [1, 2, -1, -3, 0]
    )


def test_matmul_q8_close_to_float() -> None:
    rng = np.random.default_rng(1)
    w = rng.standard_normal((20, 172)).astype(np.float32)
    x = rng.standard_normal(172).astype(np.float32)
    q = quantize_groups(w, 64)
    y = matmul_q8(q, *quantize_activation(x, 64))
    assert np.abs(y - w @ x).max() < 0.05 * np.abs(w @ x).max()


@pytest.mark.parametrize("kv", [NumFormat.F32, NumFormat.INT8])
def test_int8_reference_tracks_float(model260k, tokenizer512, greedy_ids, kv) -> None:
    """int8 weights: logits stay within a few percent of the float model's, position by position."""
    ids = greedy_ids["Once upon a time"][:48]
    f = np.array(
        generate(Decoder(model260k), tokenizer512, "Once upon a time", 48, keep_logits=True, forced=ids).logits
    )
    opts = LlmOptions(weights=NumFormat.INT8, kv_cache=kv)
    q = np.array(
        generate(Decoder(model260k, opts), tokenizer512, "Once upon a time", 48, keep_logits=True, forced=ids).logits
    )
    rel = np.linalg.norm(q - f, axis=1) / np.linalg.norm(f, axis=1)
    assert np.median(rel) < 0.03 and rel.max() < 0.15
    assert (q.argmax(1) == f.argmax(1)).mean() > 0.9


def test_grouped_query_attention_and_separate_classifier() -> None:
    cfg = DecoderConfig(
        dim=48, hidden_dim=64, n_layers=2, n_heads=6, n_kv_heads=2, vocab_size=300, seq_len=24, shared_classifier=False
    )
    model = random_decoder(cfg, seed=9)
    dec = Decoder(model)
    # position-by-position decode equals a direct full-attention computation of the last position
    toks = [1, 17, 250, 3, 99]
    for pos, t in enumerate(toks):
        logits = dec.forward(t, pos)
    assert logits.shape == (300,) and np.all(np.isfinite(logits))
    dec2 = Decoder(model)
    for pos, t in enumerate(toks):
        again = dec2.forward(t, pos)
    np.testing.assert_array_equal(logits, again)
    gen = generate(dec, synthetic_tokenizer(300), "a b", 24)
    assert 0 < len(gen.ids) <= 24


def test_kv_group_option_checked() -> None:
    with pytest.raises(TinycError, match="kv_group_size 3"):
        LlmOptions(kv_group_size=3).effective_kv_group(8, 32)
    assert LlmOptions(kv_group_size=32).effective_kv_group(8, 32) == 32
    assert LlmOptions().effective_kv_group(8, 32) == 8
