"""llama2.c checkpoints (v0 float32, v1 float32, v2 int8) and ``tokenizer.bin`` files.

Formats (see REFERENCE.md): v0 starts with 7 int32 (dim, hidden_dim,
n_layers, n_heads, n_kv_heads, vocab_size, seq_len; a negative vocab_size
means a separate classifier) followed by float32 tensors; v1 and v2 start
with the magic ``0x616b3432`` and a version, the same 7 ints, a shared
classifier byte (v2 adds an int32 group size) and are padded to 256 bytes.
No size read from a header is trusted: the expected file length is computed
from the header and checked against the real length before any tensor is
read. Writers for the same formats serve tests and benchmarks.
"""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinyc.errors import ModelLoadError
from tinyc.ir import Graph
from tinyc.llm.model import LAYER_MATRICES, DecoderConfig, DecoderModel, LayerWeights, Matrix
from tinyc.llm.quant import GroupQuantized, quantize_groups
from tinyc.llm.tokenizer import Tokenizer

log = logging.getLogger(__name__)

MAGIC = 0x616B3432  # "ak42"
HEADER_V12 = 256
MAX_FILE = 1 << 34  # 16 GiB: refuse anything larger before reading


@dataclass(frozen=True)
class CheckpointInfo:
    """What the header says, once checked against the file length."""

    version: int
    config: DecoderConfig
    group_size: int = 0  # v2 only


def _c_name(stem: str) -> str:
    import re

    name = re.sub(r"[^0-9A-Za-z_]", "_", stem).strip("_").lower() or "model"
    return "m_" + name if name[0].isdigit() else name


def _read_bytes(path: Path, what: str) -> bytes:
    if not path.exists():
        raise ModelLoadError(f"{what} not found: {path}", hint="check the path")
    if path.is_dir():
        raise ModelLoadError(f"{path} is a folder, not a {what}")
    size = path.stat().st_size
    if size > MAX_FILE:
        raise ModelLoadError(f"{what} of {size} bytes is too large", where=str(path))
    return path.read_bytes()


def _config_from_ints(ints: tuple[int, ...], shared: bool, where: str) -> DecoderConfig:
    dim, hidden, n_layers, n_heads, n_kv_heads, vocab, seq_len = ints
    for name, value in zip(("dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"), ints):
        if value <= 0:
            raise ModelLoadError(
                f"header field {name} = {value} is not positive", where=where, hint="is this a llama2.c checkpoint?"
            )
    if dim % n_heads:
        raise ModelLoadError(
            f"header: dim {dim} is not a multiple of n_heads {n_heads}",
            where=where,
            hint="is this a llama2.c checkpoint?",
        )
    cfg = DecoderConfig(dim, hidden, n_layers, n_heads, n_kv_heads, vocab, seq_len, shared_classifier=shared)
    cfg.check(where)
    return cfg


def _float_layout(c: DecoderConfig, version: int) -> list[tuple[str, int]]:
    """(tensor, float count) in file order for the float32 formats."""
    L, hs = c.n_layers, c.head_size
    emb = [("tok_embedding", c.vocab_size * c.dim)]
    norms = [("rms_att", L * c.dim), ("rms_ffn", L * c.dim), ("rms_final", c.dim)]
    mats = [
        ("wq", L * c.dim * c.q_dim),
        ("wk", L * c.dim * c.kv_dim),
        ("wv", L * c.dim * c.kv_dim),
        ("wo", L * c.q_dim * c.dim),
        ("w1", L * c.dim * c.hidden_dim),
        ("w2", L * c.hidden_dim * c.dim),
        ("w3", L * c.dim * c.hidden_dim),
    ]
    cls = [] if c.shared_classifier else [("wcls", c.vocab_size * c.dim)]
    if version == 0:
        freq = [("freq_cis_real", c.seq_len * hs // 2), ("freq_cis_imag", c.seq_len * hs // 2)]
        return emb + [norms[0]] + mats[:4] + [norms[1]] + mats[4:] + [norms[2]] + freq + cls
    return norms + emb + mats + cls


def _q_layout(c: DecoderConfig, gs: int) -> tuple[list[tuple[str, int]], list[tuple[str, int, int]]]:
    """v2: float norms, then (tensor, layer count, elements per layer) quantized in file order."""
    L = c.n_layers
    norms = [("rms_att", L * c.dim), ("rms_ffn", L * c.dim), ("rms_final", c.dim)]
    mats = [
        ("tok_embedding", 1, c.vocab_size * c.dim),
        ("wq", L, c.dim * c.q_dim),
        ("wk", L, c.dim * c.kv_dim),
        ("wv", L, c.dim * c.kv_dim),
        ("wo", L, c.q_dim * c.dim),
        ("w1", L, c.dim * c.hidden_dim),
        ("w2", L, c.hidden_dim * c.dim),
        ("w3", L, c.dim * c.hidden_dim),
    ]
    if not c.shared_classifier:
        mats.append(("wcls", 1, c.vocab_size * c.dim))
    return norms, mats


def read_header(data: bytes, where: str) -> tuple[CheckpointInfo, int]:
    """Parse and check the header; returns the info and the offset of the first tensor."""
    if len(data) < 28:
        raise ModelLoadError(
            f"file of {len(data)} bytes is too short for a llama2.c header (28 bytes at least)", where=where
        )
    magic, version = struct.unpack_from("<Ii", data, 0)
    if magic == MAGIC:
        if version not in (1, 2):
            raise ModelLoadError(
                f"llama2.c checkpoint version {version} is not supported",
                where=where,
                hint="tinyc reads versions 0 (legacy float32), 1 (float32) and 2 (int8)",
            )
        if len(data) < HEADER_V12:
            raise ModelLoadError(
                f"file of {len(data)} bytes is shorter than the {HEADER_V12}-byte v{version} header", where=where
            )
        ints = struct.unpack_from("<7i", data, 8)
        shared = data[36]
        if shared not in (0, 1):
            raise ModelLoadError(f"shared-classifier flag is {shared}, expected 0 or 1", where=where)
        gs = 0
        if version == 2:
            (gs,) = struct.unpack_from("<i", data, 37)
            if gs <= 0 or gs > (1 << 16):
                raise ModelLoadError(f"group size {gs} in the v2 header is not a positive size", where=where)
        cfg = _config_from_ints(ints, bool(shared), where)
        return CheckpointInfo(version, cfg, gs), HEADER_V12
    ints = struct.unpack_from("<7i", data, 0)
    vocab = ints[5]
    shared = vocab > 0
    ints = ints[:5] + (abs(vocab),) + ints[6:]
    cfg = _config_from_ints(ints, shared, where)
    return CheckpointInfo(0, cfg), 28


def expected_size(info: CheckpointInfo, where: str | None = None) -> int:
    c = info.config
    if info.version == 2:
        norms, mats = _q_layout(c, info.group_size)
        total = HEADER_V12 + 4 * sum(n for _, n in norms)
        for name, count, each in mats:
            if each % info.group_size:
                raise ModelLoadError(
                    f"v2 tensor {name} has {each} values per layer, not a multiple of the group size {info.group_size}",
                    where=where,
                    hint="the header's group size does not fit the model; is this a llama2.c v2 checkpoint?",
                )
            total += count * (each + 4 * (each // info.group_size))
        return total
    head = 28 if info.version == 0 else HEADER_V12
    return head + 4 * sum(n for _, n in _float_layout(c, info.version))


def read_checkpoint(path: str | Path) -> DecoderModel:
    """Read a llama2.c checkpoint (v0, v1 or v2) into a :class:`DecoderModel`."""
    p = Path(path)
    where = str(p)
    data = _read_bytes(p, "llama2.c checkpoint")
    info, offset = read_header(data, where)
    want = expected_size(info, where)
    if len(data) != want:
        c = info.config
        raise ModelLoadError(
            f"file is {len(data):,} bytes but a v{info.version} checkpoint with dim={c.dim} hidden_dim={c.hidden_dim} "
            f"n_layers={c.n_layers} n_heads={c.n_heads} n_kv_heads={c.n_kv_heads} vocab_size={c.vocab_size} "
            f"seq_len={c.seq_len} shared_classifier={c.shared_classifier} needs {want:,}",
            where=where,
            hint="the file is truncated, has trailing data, or is not a llama2.c checkpoint",
        )
    c = info.config
    if info.version == 2:
        model = _read_v2(data, offset, info, where)
    else:
        model = _read_float(data, offset, info, where)
    model.name = _c_name(p.stem)
    model.source = where
    model.validate()
    log.info("read %s: llama2.c v%d, %s", p, info.version, c)
    return model


def _read_float(data: bytes, offset: int, info: CheckpointInfo, where: str) -> DecoderModel:
    c = info.config
    t: dict[str, np.ndarray] = {}
    for name, count in _float_layout(c, info.version):
        t[name] = np.frombuffer(data, dtype="<f4", count=count, offset=offset).astype(np.float32)
        offset += 4 * count
    L = c.n_layers
    shapes = {"wq": (c.q_dim, c.dim), "wk": (c.kv_dim, c.dim), "wv": (c.kv_dim, c.dim), "wo": (c.dim, c.q_dim),
              "w1": (c.hidden_dim, c.dim), "w2": (c.dim, c.hidden_dim), "w3": (c.hidden_dim, c.dim)}  # fmt: skip
    mats = {n: t[n].reshape((L, *s)) for n, s in shapes.items()}
    rms_att = t["rms_att"].reshape(L, c.dim)
    rms_ffn = t["rms_ffn"].reshape(L, c.dim)
    layers = [
        LayerWeights(
            rms_att=rms_att[i].copy(), rms_ffn=rms_ffn[i].copy(), **{n: mats[n][i].copy() for n in LAYER_MATRICES}
        )
        for i in range(L)
    ]
    emb = t["tok_embedding"].reshape(c.vocab_size, c.dim)
    wcls = None if c.shared_classifier else t["wcls"].reshape(c.vocab_size, c.dim)
    return DecoderModel(c, emb, layers, t["rms_final"].copy(), wcls)


def _read_v2(data: bytes, offset: int, info: CheckpointInfo, where: str) -> DecoderModel:
    c = info.config
    gs = info.group_size
    norms, mats = _q_layout(c, gs)
    t: dict[str, np.ndarray] = {}
    for name, count in norms:
        t[name] = np.frombuffer(data, dtype="<f4", count=count, offset=offset).astype(np.float32)
        offset += 4 * count
    shapes = {"tok_embedding": (c.vocab_size, c.dim), "wcls": (c.vocab_size, c.dim), "wq": (c.q_dim, c.dim),
              "wk": (c.kv_dim, c.dim), "wv": (c.kv_dim, c.dim), "wo": (c.dim, c.q_dim), "w1": (c.hidden_dim, c.dim),
              "w2": (c.dim, c.hidden_dim), "w3": (c.hidden_dim, c.dim)}  # fmt: skip
    q: dict[str, list[Matrix]] = {}
    for name, count, each in mats:
        q[name] = []
        for _ in range(count):
            values = np.frombuffer(data, dtype=np.int8, count=each, offset=offset).copy()
            offset += each
            scales = np.frombuffer(data, dtype="<f4", count=each // gs, offset=offset).astype(np.float32)
            offset += 4 * (each // gs)
            if not np.all(np.isfinite(scales)) or np.any(scales < 0):
                raise ModelLoadError(f"v2 tensor {name}: scales must be finite and non-negative", where=where)
            q[name].append(_regroup(values, scales, shapes[name], gs, name))
    L = c.n_layers
    rms_att = t["rms_att"].reshape(L, c.dim)
    rms_ffn = t["rms_ffn"].reshape(L, c.dim)
    layers = [
        LayerWeights(rms_att=rms_att[i].copy(), rms_ffn=rms_ffn[i].copy(), **{n: q[n][i] for n in LAYER_MATRICES})
        for i in range(L)
    ]
    wcls = None if c.shared_classifier else q["wcls"][0]
    return DecoderModel(c, q["tok_embedding"][0], layers, t["rms_final"].copy(), wcls)


def _regroup(values: np.ndarray, scales: np.ndarray, shape: tuple[int, int], gs: int, name: str) -> Matrix:
    """v2 groups run over the flattened matrix; they are row groups when gs divides the row length."""
    rows, cols = shape
    if cols % gs == 0:
        return GroupQuantized(values.reshape(rows, cols), scales.reshape(rows, cols // gs), gs)
    # groups straddle rows: keep the exact float values and quantize per row group again
    flat = values.astype(np.float32) * np.repeat(scales, gs)
    log.warning("v2 tensor %s: group size %d does not divide its rows of %d; re-quantizing per row", name, gs, cols)
    return quantize_groups(flat.reshape(rows, cols), gs)


# -- tokenizer -----------------------------------------------------------------------


def read_tokenizer(path: str | Path, vocab_size: int) -> Tokenizer:
    """Read a llama2.c ``tokenizer.bin`` holding ``vocab_size`` tokens (the model says how many)."""
    p = Path(path)
    where = str(p)
    data = _read_bytes(p, "tokenizer file")
    if len(data) < 4:
        raise ModelLoadError("tokenizer file is too short for its header", where=where)
    (max_len,) = struct.unpack_from("<i", data, 0)
    if max_len <= 0 or max_len > 4096:
        raise ModelLoadError(
            f"max_token_length {max_len} in the header is not plausible",
            where=where,
            hint="is this a llama2.c tokenizer.bin?",
        )
    offset = 4
    vocab: list[bytes] = []
    scores = np.zeros(vocab_size, dtype=np.float32)
    for i in range(vocab_size):
        if offset + 8 > len(data):
            raise ModelLoadError(f"tokenizer ends after {i} tokens; the model has vocab_size {vocab_size}", where=where,
                                 hint="use the tokenizer the model was trained with")  # fmt: skip
        score, length = struct.unpack_from("<fi", data, offset)
        offset += 8
        if length < 0 or length > max_len or offset + length > len(data):
            raise ModelLoadError(
                f"token {i}: length {length} is negative, over max_token_length {max_len} or past the end of the file",
                where=where,
            )
        if not np.isfinite(score):
            raise ModelLoadError(f"token {i}: score is not finite", where=where)
        vocab.append(data[offset : offset + length])
        scores[i] = score
        offset += length
    if offset != len(data):
        raise ModelLoadError(f"tokenizer has {len(data) - offset} bytes after its {vocab_size} tokens", where=where,
                             hint="the model's vocab_size and the tokenizer disagree: use the tokenizer the model was trained with")  # fmt: skip
    return Tokenizer(tuple(vocab), scores, max_len)


def write_tokenizer(tok: Tokenizer, path: str | Path) -> None:
    parts = [struct.pack("<i", tok.max_token_length)]
    for piece, score in zip(tok.vocab, tok.scores):
        parts.append(struct.pack("<fi", float(score), len(piece)) + piece)
    Path(path).write_bytes(b"".join(parts))


# -- writers (tests, benchmarks) --------------------------------------------------------


def _stack(model: DecoderModel, name: str) -> np.ndarray:
    return np.stack([_as_float(getattr(layer, name)) for layer in model.layers])


def _as_float(m: Matrix) -> np.ndarray:
    return m.dequantize() if isinstance(m, GroupQuantized) else np.asarray(m, dtype=np.float32)


def write_checkpoint_v0(model: DecoderModel, path: str | Path) -> None:
    """Write the legacy float32 format that llama2.c's run.c reads."""
    c = model.config
    vocab = c.vocab_size if c.shared_classifier else -c.vocab_size
    with open(path, "wb") as f:
        f.write(struct.pack("<7i", c.dim, c.hidden_dim, c.n_layers, c.n_heads, c.n_kv_heads, vocab, c.seq_len))
        f.write(_as_float(model.tok_embedding).astype("<f4").tobytes())
        f.write(_stack(model, "rms_att").astype("<f4").tobytes())
        for name in ("wq", "wk", "wv", "wo"):
            f.write(_stack(model, name).astype("<f4").tobytes())
        f.write(_stack(model, "rms_ffn").astype("<f4").tobytes())
        for name in ("w1", "w2", "w3"):
            f.write(_stack(model, name).astype("<f4").tobytes())
        f.write(model.rms_final.astype("<f4").tobytes())
        pos = np.arange(c.seq_len, dtype=np.float64)[:, None]
        freqs = 1.0 / (c.rope_theta ** (np.arange(0, c.head_size, 2, dtype=np.float64) / c.head_size))
        f.write(np.cos(pos * freqs).astype("<f4").tobytes())
        f.write(np.sin(pos * freqs).astype("<f4").tobytes())
        if model.wcls is not None:
            f.write(_as_float(model.wcls).astype("<f4").tobytes())


def write_checkpoint_v2(model: DecoderModel, path: str | Path, group_size: int = 64) -> None:
    """Write the int8 format that llama2.c's runq.c reads (groups over each flattened matrix)."""
    c = model.config
    gs = group_size
    while c.dim % gs:
        gs //= 2
    with open(path, "wb") as f:
        head = struct.pack("<Ii7iBi", MAGIC, 2, c.dim, c.hidden_dim, c.n_layers, c.n_heads, c.n_kv_heads, c.vocab_size, c.seq_len,
                           int(c.shared_classifier), gs)  # fmt: skip
        f.write(head + b"\0" * (HEADER_V12 - len(head)))
        f.write(_stack(model, "rms_att").astype("<f4").tobytes())
        f.write(_stack(model, "rms_ffn").astype("<f4").tobytes())
        f.write(model.rms_final.astype("<f4").tobytes())
        tensors = [_as_float(model.tok_embedding)]
        for name in LAYER_MATRICES:
            tensors += [_as_float(getattr(layer, name)) for layer in model.layers]
        if model.wcls is not None:
            tensors.append(_as_float(model.wcls))
        for w in tensors:
            if w.size % gs:
                raise ModelLoadError(f"a {w.shape} matrix does not split into groups of {gs}")
            gq = quantize_groups(w.reshape(-1, gs), gs)  # one group per row of the reshaped matrix
            f.write(gq.q.astype(np.int8).tobytes())
            f.write(gq.scales.reshape(-1).astype("<f4").tobytes())


def load_llama2c(path: str | Path, past_len: int = 1) -> Graph:
    """A llama2.c checkpoint as tinyc IR: one decode step after ``past_len`` positions.

    The decoder backend reads the checkpoint directly (``read_checkpoint``,
    exact int8 for v2 files); this graph is the same model for the IR tools
    (``tinyc ir``, ``analyze``, the reference interpreter), and the decoder
    matcher lifts it back to the same description.
    """
    from tinyc.llm.graph import decoder_graph

    model = read_checkpoint(path)
    return decoder_graph(model, past_len=past_len, name=model.name)
