"""The model description of a decoder-only (Llama-style) transformer.

Every frontend that yields a decoder (llama2.c checkpoints, later the matcher
over the IR of a PyTorch/ONNX Llama) produces a :class:`DecoderModel`: a typed
:class:`DecoderConfig` plus weights, each matrix float32 or group-quantized
int8 (:class:`~tinyc.llm.quant.GroupQuantized`). Matrices are ``[out, in]``
row-major (the decode step computes ``W @ x``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import TypeAlias

import numpy as np

from tinyc.errors import ModelLoadError
from tinyc.llm.quant import GroupQuantized, quantize_groups, resolve_group_size

log = logging.getLogger(__name__)

Matrix: TypeAlias = np.ndarray | GroupQuantized

LAYER_MATRICES = ("wq", "wk", "wv", "wo", "w1", "w2", "w3")


@dataclass(frozen=True)
class DecoderConfig:
    """Hyper-parameters of a Llama-style decoder."""

    dim: int
    hidden_dim: int
    n_layers: int
    n_heads: int
    n_kv_heads: int
    vocab_size: int
    seq_len: int
    shared_classifier: bool = True
    norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    head_size: int = 0  # 0: dim // n_heads

    def __post_init__(self) -> None:
        if self.head_size == 0 and self.n_heads > 0:
            object.__setattr__(self, "head_size", self.dim // self.n_heads)

    @property
    def kv_dim(self) -> int:
        return self.n_kv_heads * self.head_size

    @property
    def q_dim(self) -> int:
        return self.n_heads * self.head_size

    @property
    def kv_mul(self) -> int:
        """Query heads per key/value head (grouped-query attention)."""
        return self.n_heads // self.n_kv_heads

    def check(self, where: str | None = None) -> None:
        """Raise ModelLoadError naming the first field that makes no sense."""
        for name in ("dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len", "head_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ModelLoadError(f"decoder config: {name} = {value!r} must be a positive integer", where=where)
        limits = {
            "dim": 1 << 16,
            "hidden_dim": 1 << 18,
            "n_layers": 1024,
            "n_heads": 1024,
            "vocab_size": 1 << 21,
            "seq_len": 1 << 20,
        }
        for name, limit in limits.items():
            if getattr(self, name) > limit:
                raise ModelLoadError(
                    f"decoder config: {name} = {getattr(self, name)} is implausibly large (limit {limit})",
                    where=where,
                    hint="is the file a llama2.c checkpoint?",
                )
        if self.n_kv_heads > self.n_heads or self.n_heads % self.n_kv_heads:
            raise ModelLoadError(
                f"decoder config: n_heads = {self.n_heads} is not a multiple of n_kv_heads = {self.n_kv_heads}",
                where=where,
                hint="grouped-query attention shares each key/value head among n_heads / n_kv_heads query heads",
            )
        if self.head_size % 2:
            raise ModelLoadError(
                f"decoder config: head size {self.head_size} is odd; rotary embeddings rotate pairs", where=where
            )
        if not (self.norm_eps > 0 and self.rope_theta > 0):
            raise ModelLoadError(
                f"decoder config: norm_eps {self.norm_eps} and rope_theta {self.rope_theta} must be positive",
                where=where,
            )


@dataclass
class LayerWeights:
    """One decoder block: attention (RMSNorm, wq/wk/wv/wo) then SwiGLU feed-forward (RMSNorm, w1/w2/w3)."""

    rms_att: np.ndarray  # [dim]
    wq: Matrix  # [q_dim, dim]
    wk: Matrix  # [kv_dim, dim]
    wv: Matrix  # [kv_dim, dim]
    wo: Matrix  # [dim, q_dim]
    rms_ffn: np.ndarray  # [dim]
    w1: Matrix  # [hidden, dim] gate
    w2: Matrix  # [dim, hidden] down
    w3: Matrix  # [hidden, dim] up


@dataclass
class DecoderModel:
    """Config, weights and where they came from; ``wcls`` is None when tied to the embedding."""

    config: DecoderConfig
    tok_embedding: Matrix  # [vocab, dim]
    layers: list[LayerWeights]
    rms_final: np.ndarray  # [dim]
    wcls: Matrix | None = None
    name: str = "model"
    source: str = ""
    notes: list[str] = field(default_factory=list)

    # -- shapes -----------------------------------------------------------------

    def expected_shapes(self) -> dict[str, tuple[int, ...]]:
        c = self.config
        shapes: dict[str, tuple[int, ...]] = {
            "rms_att": (c.dim,),
            "wq": (c.q_dim, c.dim),
            "wk": (c.kv_dim, c.dim),
            "wv": (c.kv_dim, c.dim),
            "wo": (c.dim, c.q_dim),
            "rms_ffn": (c.dim,),
            "w1": (c.hidden_dim, c.dim),
            "w2": (c.dim, c.hidden_dim),
            "w3": (c.hidden_dim, c.dim),
        }
        return shapes

    def validate(self) -> None:
        """Check every tensor's shape and dtype against the config; the error names the tensor."""
        c = self.config
        c.check(self.source or self.name)
        where = self.source or self.name
        _check_tensor("tok_embedding", self.tok_embedding, (c.vocab_size, c.dim), where)
        if len(self.layers) != c.n_layers:
            raise ModelLoadError(f"{len(self.layers)} decoder layers given, config says {c.n_layers}", where=where)
        shapes = self.expected_shapes()
        for i, layer in enumerate(self.layers):
            for name, shape in shapes.items():
                _check_tensor(f"layers[{i}].{name}", getattr(layer, name), shape, where)
        _check_tensor("rms_final", self.rms_final, (c.dim,), where)
        if c.shared_classifier != (self.wcls is None):
            raise ModelLoadError(
                f"config says shared_classifier={c.shared_classifier} but wcls is {'absent' if self.wcls is None else 'present'}",
                where=where,
            )
        if self.wcls is not None:
            _check_tensor("wcls", self.wcls, (c.vocab_size, c.dim), where)

    def matrices(self) -> Iterator[tuple[str, Matrix]]:
        """(name, matrix) for every 2-D weight, in storage order."""
        yield "tok_embedding", self.tok_embedding
        for i, layer in enumerate(self.layers):
            for name in LAYER_MATRICES:
                yield f"layers[{i}].{name}", getattr(layer, name)
        if self.wcls is not None:
            yield "wcls", self.wcls

    @property
    def classifier(self) -> Matrix:
        return self.tok_embedding if self.wcls is None else self.wcls

    @property
    def n_params(self) -> int:
        total = int(np.prod(self.rms_final.shape))
        for _, m in self.matrices():
            total += m.shape[0] * m.shape[1]
        for layer in self.layers:
            total += layer.rms_att.size + layer.rms_ffn.size
        return total

    @property
    def is_quantized(self) -> bool:
        return any(isinstance(m, GroupQuantized) for _, m in self.matrices())

    # -- conversions -------------------------------------------------------------

    def _map(self, fn) -> DecoderModel:  # type: ignore[no-untyped-def]
        layers = [replace(layer, **{n: fn(getattr(layer, n)) for n in LAYER_MATRICES}) for layer in self.layers]
        return replace(
            self,
            tok_embedding=fn(self.tok_embedding),
            layers=layers,
            wcls=None if self.wcls is None else fn(self.wcls),
            notes=list(self.notes),
        )

    def dequantized(self) -> DecoderModel:
        """All matrices float32 (quantized ones expanded)."""
        return self._map(lambda m: m.dequantize() if isinstance(m, GroupQuantized) else m)

    def quantized(self, group_size: int | None = 64) -> DecoderModel:
        """All matrices int8 with ``group_size`` columns per scale (0: one group per row).

        Matrices already quantized with the same effective group size are kept
        as they are; others are re-quantized from their float values.
        """

        def q(m: Matrix) -> Matrix:
            gs = resolve_group_size(group_size, m.shape[1])
            if isinstance(m, GroupQuantized):
                if m.group_size == gs:
                    return m
                log.warning("re-quantizing a %s matrix from group size %d to %d", m.shape, m.group_size, gs)
                return quantize_groups(m.dequantize(), gs)
            return quantize_groups(m, gs)

        return self._map(q)


def _check_tensor(name: str, t: Matrix | np.ndarray, shape: tuple[int, ...], where: str) -> None:
    if isinstance(t, GroupQuantized):
        if t.q.dtype != np.int8 or t.scales.dtype != np.float32:
            raise ModelLoadError(f"{name}: quantized weights must be int8 with float32 scales", where=where)
        if t.shape != shape:
            raise ModelLoadError(f"{name}: shape {t.shape}, expected {shape}", where=where)
        if t.scales.shape != (shape[0], -(-shape[1] // t.group_size)):
            raise ModelLoadError(f"{name}: {t.scales.shape} scales do not match group size {t.group_size}", where=where)
        return
    if not isinstance(t, np.ndarray) or t.dtype != np.float32:
        raise ModelLoadError(
            f"{name}: expected a float32 array, got {type(t).__name__} {getattr(t, 'dtype', '')}", where=where
        )
    if tuple(t.shape) != shape:
        raise ModelLoadError(f"{name}: shape {tuple(t.shape)}, expected {shape}", where=where)
    if not np.all(np.isfinite(t)):
        raise ModelLoadError(f"{name}: contains NaN or infinity", where=where)


def random_decoder(config: DecoderConfig, seed: int = 0, name: str = "random_llama") -> DecoderModel:
    """A float32 decoder with random weights (scaled like a trained one) for tests and benchmarks."""
    rng = np.random.default_rng(seed)
    c = config

    def mat(rows: int, cols: int) -> np.ndarray:
        return (rng.standard_normal((rows, cols), dtype=np.float32) * np.float32(1.0 / np.sqrt(cols))).astype(
            np.float32
        )

    def norm(n: int) -> np.ndarray:
        return (1.0 + 0.1 * rng.standard_normal(n)).astype(np.float32)

    layers = [
        LayerWeights(
            rms_att=norm(c.dim),
            wq=mat(c.q_dim, c.dim),
            wk=mat(c.kv_dim, c.dim),
            wv=mat(c.kv_dim, c.dim),
            wo=mat(c.dim, c.q_dim),
            rms_ffn=norm(c.dim),
            w1=mat(c.hidden_dim, c.dim),
            w2=mat(c.dim, c.hidden_dim),
            w3=mat(c.hidden_dim, c.dim),
        )
        for _ in range(c.n_layers)
    ]
    emb = (rng.standard_normal((c.vocab_size, c.dim), dtype=np.float32) * np.float32(0.5)).astype(np.float32)
    wcls = None if c.shared_classifier else mat(c.vocab_size, c.dim)
    model = DecoderModel(c, emb, layers, norm(c.dim), wcls, name=name, source=f"<random {name} seed {seed}>")
    model.validate()
    return model
