"""The NumPy reference decode step: ``forward(token, pos) -> logits``, the oracle of the C backend.

It follows llama2.c's ``forward``: embedding row, then per layer RMSNorm ->
q/k/v -> rotary embedding of q and k (pairs within each head) -> append k/v to
the cache at ``pos`` -> per head softmax(q.k / sqrt(head_size)) over positions
0..pos -> weighted sum of values -> wo -> residual; RMSNorm -> SwiGLU
(silu(w1 x) * w3 x) -> w2 -> residual; final RMSNorm and the classifier.
With int8 weights the matmuls quantize their input per group and accumulate
in int32 (:mod:`tinyc.llm.quant`); with an int8 cache keys and values are
quantized per group when stored.
"""

from __future__ import annotations

import numpy as np

from tinyc.llm.model import DecoderModel, Matrix
from tinyc.llm.options import LlmOptions, NumFormat
from tinyc.llm.quant import GroupQuantized, matmul_q8, quantize_activation

F32 = np.float32


def rope_frequencies(head_size: int, theta: float) -> np.ndarray:
    """``1 / theta^(2j / head_size)`` for j < head_size / 2, rounded to float32."""
    j = np.arange(0, head_size, 2, dtype=np.float64)
    return (1.0 / theta ** (j / head_size)).astype(F32)


def rmsnorm(x: np.ndarray, w: np.ndarray, eps: float) -> np.ndarray:
    ss = F32(np.dot(x, x)) / F32(x.shape[0]) + F32(eps)
    inv = F32(1.0) / np.sqrt(ss, dtype=F32)
    return (w * (inv * x)).astype(F32)


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(), dtype=F32)
    return (e / e.sum(dtype=F32)).astype(F32)


def matvec(w: Matrix, x: np.ndarray) -> np.ndarray:
    if isinstance(w, GroupQuantized):
        xq, xs = quantize_activation(x, w.group_size)
        return matmul_q8(w, xq, xs)
    return (w @ x).astype(F32)


def rope(vec: np.ndarray, n_heads: int, head_size: int, cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
    v = vec.reshape(n_heads, head_size // 2, 2)
    v0, v1 = v[..., 0], v[..., 1]
    out = np.empty_like(v)
    out[..., 0] = v0 * cos - v1 * sin
    out[..., 1] = v0 * sin + v1 * cos
    return out.reshape(-1)


class Decoder:
    """A decoder with its KV cache; ``forward`` appends to the cache at ``pos``."""

    def __init__(self, model: DecoderModel, options: LlmOptions | None = None) -> None:
        self.options = opts = options or LlmOptions()
        opts.check()
        model.validate()
        self.model = model.quantized(opts.group_size) if opts.weights is NumFormat.INT8 else model.dequantized()
        c = self.config = model.config
        self.freqs = rope_frequencies(c.head_size, c.rope_theta)
        self.kv_int8 = opts.kv_cache is NumFormat.INT8
        self.kv_group = opts.effective_kv_group(c.head_size, c.kv_dim)
        shape = (c.n_layers, c.seq_len, c.kv_dim)
        if self.kv_int8:
            ng = c.kv_dim // self.kv_group
            self.kq = np.zeros(shape, np.int8)
            self.vq = np.zeros(shape, np.int8)
            self.ks = np.zeros((c.n_layers, c.seq_len, ng), F32)
            self.vs = np.zeros((c.n_layers, c.seq_len, ng), F32)
        else:
            self.kc = np.zeros(shape, F32)
            self.vc = np.zeros(shape, F32)

    def reset(self) -> None:
        for name in ("kq", "vq", "ks", "vs", "kc", "vc"):
            if hasattr(self, name):
                getattr(self, name)[...] = 0

    def _store(self, layer: int, pos: int, k: np.ndarray, v: np.ndarray) -> None:
        if self.kv_int8:
            self.kq[layer, pos], self.ks[layer, pos] = quantize_activation(k, self.kv_group)
            self.vq[layer, pos], self.vs[layer, pos] = quantize_activation(v, self.kv_group)
        else:
            self.kc[layer, pos] = k
            self.vc[layer, pos] = v

    def _cache(self, layer: int, pos: int) -> tuple[np.ndarray, np.ndarray]:
        """Keys and values of positions 0..pos as float32 ``[pos + 1, kv_dim]``."""
        if not self.kv_int8:
            return self.kc[layer, : pos + 1], self.vc[layer, : pos + 1]
        g = self.kv_group
        ks = np.repeat(self.ks[layer, : pos + 1], g, axis=1)
        vs = np.repeat(self.vs[layer, : pos + 1], g, axis=1)
        return self.kq[layer, : pos + 1] * ks, self.vq[layer, : pos + 1] * vs

    def embedding(self, token: int) -> np.ndarray:
        emb = self.model.tok_embedding
        return emb.row(token) if isinstance(emb, GroupQuantized) else emb[token].copy()

    def forward(self, token: int, pos: int, trace: list[np.ndarray] | None = None) -> np.ndarray:
        """Logits for ``token`` at ``pos``; ``trace`` collects the residual stream after each residual add."""
        c = self.config
        if not (0 <= token < c.vocab_size and 0 <= pos < c.seq_len):
            raise ValueError(f"token {token} or position {pos} out of range")
        m = self.model
        hs = c.head_size
        ang = F32(pos) * self.freqs
        cos, sin = np.cos(ang, dtype=F32), np.sin(ang, dtype=F32)
        scale = np.sqrt(F32(hs), dtype=F32)
        x = self.embedding(token)
        for li, lw in enumerate(m.layers):
            xb = rmsnorm(x, lw.rms_att, c.norm_eps)
            q = rope(matvec(lw.wq, xb), c.n_heads, hs, cos, sin)
            k = rope(matvec(lw.wk, xb), c.n_kv_heads, hs, cos, sin)
            v = matvec(lw.wv, xb)
            self._store(li, pos, k, v)
            keys, values = self._cache(li, pos)
            att_out = np.empty(c.q_dim, F32)
            for h in range(c.n_heads):
                kvh = h // c.kv_mul
                kh = keys[:, kvh * hs : (kvh + 1) * hs]
                vh = values[:, kvh * hs : (kvh + 1) * hs]
                scores = (kh @ q[h * hs : (h + 1) * hs]).astype(F32) / scale
                att_out[h * hs : (h + 1) * hs] = softmax(scores) @ vh
            x = (x + matvec(lw.wo, att_out)).astype(F32)
            if trace is not None:
                trace.append(x.copy())
            xb = rmsnorm(x, lw.rms_ffn, c.norm_eps)
            h1 = matvec(lw.w1, xb)
            h3 = matvec(lw.w3, xb)
            hb = (h1 * (F32(1.0) / (F32(1.0) + np.exp(-h1, dtype=F32))) * h3).astype(F32)
            x = (x + matvec(lw.w2, hb)).astype(F32)
            if trace is not None:
                trace.append(x.copy())
        x = rmsnorm(x, m.rms_final, c.norm_eps)
        return matvec(m.classifier, x)
