"""A small Llama-style decoder in PyTorch, written the usual way, for the PyTorch/ONNX path tests.

``forward(token [1, 1], pos [1], past_k [L, 1, n_kv, P, hs], past_v) -> (logits [1, 1, V], present_k, present_v)``:
RMSNorm, rotary embeddings (interleaved pairs as in Meta's Llama and llama2.c,
or rotate-half as in Hugging Face's), grouped-query attention over the past
plus the current position, SwiGLU feed-forward, tied or separate classifier.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(1.0 + 0.1 * torch.randn(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope_interleaved(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    # x [1, h, 1, hs]; cos, sin [1, hs/2]
    x0, x1 = x[..., 0::2], x[..., 1::2]
    out = torch.stack([x0 * cos - x1 * sin, x0 * sin + x1 * cos], dim=-1)
    return out.flatten(-2)


def rope_half(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    cos2, sin2 = torch.cat([cos, cos], -1), torch.cat([sin, sin], -1)
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * cos2 + rotated * sin2


class Attention(nn.Module):
    def __init__(self, dim: int, n_heads: int, n_kv_heads: int, rope: str, gqa: str = "interleave") -> None:
        super().__init__()
        self.n_heads, self.n_kv_heads, self.hs = n_heads, n_kv_heads, dim // n_heads
        self.wq = nn.Linear(dim, n_heads * self.hs, bias=False)
        self.wk = nn.Linear(dim, n_kv_heads * self.hs, bias=False)
        self.wv = nn.Linear(dim, n_kv_heads * self.hs, bias=False)
        self.wo = nn.Linear(n_heads * self.hs, dim, bias=False)
        self.rope = rope_interleaved if rope == "interleaved" else rope_half
        self.gqa = gqa
        self.scale = 1.0 / math.sqrt(self.hs)

    def forward(self, x, cos, sin, past_k, past_v):  # type: ignore[no-untyped-def]
        q = self.wq(x).view(1, 1, self.n_heads, self.hs).transpose(1, 2)
        k = self.wk(x).view(1, 1, self.n_kv_heads, self.hs).transpose(1, 2)
        v = self.wv(x).view(1, 1, self.n_kv_heads, self.hs).transpose(1, 2)
        q, k = self.rope(q, cos, sin), self.rope(k, cos, sin)
        k_all = torch.cat([past_k, k], dim=2)
        v_all = torch.cat([past_v, v], dim=2)
        rep = self.n_heads // self.n_kv_heads
        if self.gqa == "interleave":  # query head h reads kv head h // rep
            kk, vv = k_all.repeat_interleave(rep, dim=1), v_all.repeat_interleave(rep, dim=1)
        else:  # tiled: query head h reads kv head h % n_kv_heads
            kk, vv = k_all.repeat(1, rep, 1, 1), v_all.repeat(1, rep, 1, 1)
        att = torch.softmax((q @ kk.transpose(-1, -2)) * self.scale, dim=-1)
        out = (att @ vv).transpose(1, 2).reshape(1, 1, self.n_heads * self.hs)
        return self.wo(out), k_all, v_all


class FeedForward(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.w1 = nn.Linear(dim, hidden, bias=False)
        self.w2 = nn.Linear(hidden, dim, bias=False)
        self.w3 = nn.Linear(dim, hidden, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w2(nn.functional.silu(self.w1(x)) * self.w3(x))


class Block(nn.Module):
    def __init__(self, dim: int, hidden: int, n_heads: int, n_kv_heads: int, rope: str, gqa: str) -> None:
        super().__init__()
        self.attention_norm = RMSNorm(dim)
        self.attention = Attention(dim, n_heads, n_kv_heads, rope, gqa)
        self.ffn_norm = RMSNorm(dim)
        self.feed_forward = FeedForward(dim, hidden)

    def forward(self, x, cos, sin, past_k, past_v):  # type: ignore[no-untyped-def]
        h, k, v = self.attention(self.attention_norm(x), cos, sin, past_k, past_v)
        x = x + h
        return x + self.feed_forward(self.ffn_norm(x)), k, v


class TinyLlama(nn.Module):
    def __init__(self, vocab: int = 300, dim: int = 48, hidden: int = 96, n_layers: int = 2, n_heads: int = 6,
                 n_kv_heads: int = 2, seq_len: int = 64, tied: bool = False, rope: str = "interleaved",
                 gqa: str = "interleave", theta: float = 10000.0) -> None:  # fmt: skip
        super().__init__()
        self.tok_embeddings = nn.Embedding(vocab, dim)
        self.layers = nn.ModuleList(Block(dim, hidden, n_heads, n_kv_heads, rope, gqa) for _ in range(n_layers))
        self.norm = RMSNorm(dim)
        self.output = nn.Linear(dim, vocab, bias=False)
        if tied:
            self.output.weight = self.tok_embeddings.weight
        hs = dim // n_heads
        freqs = 1.0 / theta ** (torch.arange(0, hs, 2, dtype=torch.float64) / hs)
        ang = torch.arange(seq_len, dtype=torch.float64)[:, None] * freqs[None, :]
        self.register_buffer("cos_table", torch.cos(ang).float())
        self.register_buffer("sin_table", torch.sin(ang).float())
        self.n_layers, self.n_kv_heads, self.hs = n_layers, n_kv_heads, hs

    def forward(self, token, pos, past_k, past_v):  # type: ignore[no-untyped-def]
        x = self.tok_embeddings(token)
        cos, sin = self.cos_table.index_select(0, pos), self.sin_table.index_select(0, pos)
        ks, vs = [], []
        for i, layer in enumerate(self.layers):
            x, k, v = layer(x, cos, sin, past_k[i], past_v[i])
            ks.append(k)
            vs.append(v)
        return self.output(self.norm(x)), torch.stack(ks), torch.stack(vs)

    def empty_cache(self, length: int) -> tuple[torch.Tensor, torch.Tensor]:
        shape = (self.n_layers, 1, self.n_kv_heads, length, self.hs)
        return torch.zeros(shape), torch.zeros(shape)

    @torch.no_grad()
    def greedy(self, prompt: list[int], steps: int) -> list[int]:
        """llama2.c's loop: feed BOS + prompt, then the argmax; the emitted ids (positions 1..steps-1)."""
        token, out = prompt[0], []
        past_k = past_v = None
        for pos in range(steps):
            if past_k is None:
                past_k, past_v = self.empty_cache(0)
            logits, past_k, past_v = self(torch.tensor([[token]]), torch.tensor([pos]), past_k, past_v)
            nxt = prompt[pos + 1] if pos + 1 < len(prompt) else int(torch.argmax(logits[0, -1]))
            if nxt == 1:
                break
            out.append(nxt)
            token = nxt
        return out
