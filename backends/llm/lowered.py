"""The decoder as the C backend sees it: weights in their final format, every array named and sized.

:func:`lower` applies the options (float32 or int8 weights with a group
size, float32 or int8 KV cache) to a :class:`DecoderModel` and lists the
constant arrays, the RAM arenas and their sizes; the placement and the C
emitters work from this one description.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tinyc.backends.llm.cdata import c_identifier
from tinyc.backends.llm.placement import Item
from tinyc.errors import TinycError
from tinyc.llm.model import LAYER_MATRICES, DecoderConfig, DecoderModel
from tinyc.llm.options import LlmOptions, NumFormat
from tinyc.llm.quant import GroupQuantized
from tinyc.llm.reference import rope_frequencies
from tinyc.llm.tokenizer import Tokenizer

F32 = 4


@dataclass(frozen=True)
class ConstArray:
    cname: str  # static array name in the weights file
    data: np.ndarray
    kind: str  # "weights" | "tokenizer"
    comment: str = ""


@dataclass
class Lowered:
    name: str  # C prefix
    config: DecoderConfig
    model: DecoderModel  # weights in their final format
    tokenizer: Tokenizer
    options: LlmOptions
    int8: bool
    kv_int8: bool
    kv_group: int
    group_sizes: dict[str, int] = field(default_factory=dict)  # role -> group size (int8 weights)
    arrays: list[ConstArray] = field(default_factory=list)
    arenas: dict[str, list[tuple[str, str, tuple[str, ...]]]] = field(
        default_factory=dict
    )  # arena -> (ctype, field, dims)
    macros: dict[str, int] = field(default_factory=dict)  # the C's size macros

    @property
    def prompt_capacity(self) -> int:
        return self.options.max_prompt_bytes + 3

    @property
    def merge_buffer(self) -> int:
        return 2 * self.tokenizer.max_token_length + 8

    def arena_bytes(self, arena: str) -> int:
        """sizeof the arena struct (fields in order, each at its alignment)."""
        total, max_align = 0, 1
        for ctype, _, dims in self.arenas[arena]:
            size, align = CTYPE_SIZE[ctype], min(CTYPE_SIZE[ctype], 4)
            count = int(np.prod([self.macros[d] for d in dims]))
            total = -(-total // align) * align + size * count
            max_align = max(max_align, align)
        return -(-total // max_align) * max_align

    def items(self) -> list[Item]:
        items = [Item(a.cname, int(a.data.nbytes), a.kind) for a in self.arrays]
        kinds = {"act": "activations", "kv": "kv_cache", "io": "sampler"}
        items += [Item(arena, self.arena_bytes(arena), kinds[arena]) for arena in self.arenas]
        return items


CTYPE_SIZE = {"float": 4, "int8_t": 1, "int32_t": 4, "uint32_t": 4, "char": 1, "tinyc_llm_prob_index": 8}


def lower(model: DecoderModel, tokenizer: Tokenizer, options: LlmOptions, name: str | None = None) -> Lowered:
    options.check()
    model.validate()
    c = model.config
    if tokenizer.vocab_size != c.vocab_size:
        raise TinycError(f"the tokenizer has {tokenizer.vocab_size} tokens but the model's vocabulary is {c.vocab_size}",
                         hint="use the tokenizer the model was trained with")  # fmt: skip
    for i, piece in enumerate(tokenizer.vocab):
        if b"\0" in piece:
            raise TinycError(f"token {i} contains a NUL byte; the C tokenizer stores pieces as C strings")
    int8 = options.weights is NumFormat.INT8
    final = model.quantized(options.group_size) if int8 else model.dequantized()
    low = Lowered(
        name=c_identifier(name or model.name),
        config=c,
        model=final,
        tokenizer=tokenizer,
        options=options,
        int8=int8,
        kv_int8=options.kv_cache is NumFormat.INT8,
        kv_group=options.effective_kv_group(c.head_size, c.kv_dim),
    )
    _list_arrays(low)
    _list_arenas(low)
    return low


def _list_arrays(low: Lowered) -> None:
    m, c = low.model, low.config
    arrays = low.arrays

    def matrix(cname: str, mat, role: str, comment: str) -> None:  # type: ignore[no-untyped-def]
        if isinstance(mat, GroupQuantized):
            gs = low.group_sizes.setdefault(role, mat.group_size)
            if gs != mat.group_size:
                raise TinycError(f"{role} matrices use different group sizes ({gs} and {mat.group_size}) across layers",
                                 hint="re-quantize with one --group-size")  # fmt: skip
            arrays.append(ConstArray(f"{cname}_q", mat.q, "weights", f"{comment}: int8 {mat.shape[0]}x{mat.shape[1]}"))
            arrays.append(
                ConstArray(
                    f"{cname}_s",
                    mat.scales,
                    "weights",
                    f"{comment}: scales {mat.scales.shape[0]}x{mat.scales.shape[1]} (groups of {gs})",
                )
            )
        else:
            arrays.append(
                ConstArray(
                    cname, np.asarray(mat, np.float32), "weights", f"{comment}: float {mat.shape[0]}x{mat.shape[1]}"
                )
            )

    matrix("tok_embedding", m.tok_embedding, "emb", f"token embedding [{c.vocab_size}][{c.dim}]")
    for i, layer in enumerate(m.layers):
        arrays.append(ConstArray(f"l{i}_rms_att", layer.rms_att, "weights", f"layer {i} attention RMSNorm [{c.dim}]"))
        arrays.append(
            ConstArray(f"l{i}_rms_ffn", layer.rms_ffn, "weights", f"layer {i} feed-forward RMSNorm [{c.dim}]")
        )
        for role in LAYER_MATRICES:
            matrix(f"l{i}_{role}", getattr(layer, role), role, f"layer {i} {role}")
    arrays.append(ConstArray("rms_final", m.rms_final, "weights", f"final RMSNorm [{c.dim}]"))
    if m.wcls is not None:
        matrix("wcls", m.wcls, "cls", f"classifier [{c.vocab_size}][{c.dim}]")
    elif "emb" in low.group_sizes:
        low.group_sizes["cls"] = low.group_sizes["emb"]
    arrays.append(
        ConstArray(
            "rope_freqs",
            rope_frequencies(c.head_size, c.rope_theta),
            "weights",
            f"RoPE frequencies 1/theta^(2j/{c.head_size})",
        )
    )
    _list_vocab(low)


def _list_vocab(low: Lowered) -> None:
    tok = low.tokenizer
    pieces = [tok.c_string(i) for i in range(tok.vocab_size)]
    offsets, pos = [], 0
    for p in pieces:
        offsets.append(pos)
        pos += len(p) + 1
    text = np.frombuffer(b"".join(p + b"\0" for p in pieces), dtype=np.int8)
    low.arrays += [
        ConstArray("vocab_text", text, "tokenizer", f"{tok.vocab_size} pieces, NUL-terminated"),
        ConstArray("vocab_offsets", np.asarray(offsets, np.uint32), "tokenizer", "start of each piece"),
        ConstArray("vocab_scores", tok.scores.astype(np.float32), "tokenizer", "merge scores"),
        ConstArray("vocab_sorted", np.asarray(tok.sorted_ids(), np.int32), "tokenizer", "ids ordered by piece bytes"),
        ConstArray(
            "byte_tokens",
            np.asarray([tok.byte_token(b) for b in range(256)], np.int32),
            "tokenizer",
            "<0xXX> token of each byte",
        ),
    ]


def _list_arenas(low: Lowered) -> None:
    c = low.config
    gs = [g for g in low.group_sizes.values() if g > 0] or [1]
    m = low.macros
    m.update(DIM=c.dim, HIDDEN_DIM=c.hidden_dim, N_LAYERS=c.n_layers, N_HEADS=c.n_heads, N_KV_HEADS=c.n_kv_heads,
             HEAD_SIZE=c.head_size, Q_DIM=c.q_dim, KV_DIM=c.kv_dim, KV_MUL=c.kv_mul, VOCAB_SIZE=c.vocab_size,
             SEQ_LEN=c.seq_len, XB_DIM=max(c.dim, c.q_dim), MAX_PROMPT_BYTES=low.options.max_prompt_bytes,
             PROMPT_CAPACITY=low.prompt_capacity, MERGE_BUFFER=low.merge_buffer)  # fmt: skip
    act: list[tuple[str, str, tuple[str, ...]]] = [
        ("float", "x", ("DIM",)),
        ("float", "xb", ("XB_DIM",)),
        ("float", "xb2", ("DIM",)),
        ("float", "hb", ("HIDDEN_DIM",)),
        ("float", "hb2", ("HIDDEN_DIM",)),
        ("float", "q", ("Q_DIM",)),
        ("float", "att", ("SEQ_LEN",)),
        ("float", "rope", ("HEAD_SIZE",)),
    ]
    if low.kv_int8:
        act += [("float", "k", ("KV_DIM",)), ("float", "v", ("KV_DIM",))]
    if low.int8:
        m["MAX_IN"] = max(c.dim, c.q_dim, c.hidden_dim)
        m["MAX_IN_GROUPS"] = -(-m["MAX_IN"] // min(gs))
        m["MAX_IN_PAIRS"] = m["MAX_IN"] // 2 + 1
        act += [
            ("int8_t", "xq", ("MAX_IN",)),
            ("float", "xs", ("MAX_IN_GROUPS",)),
            ("uint32_t", "xpairs", ("MAX_IN_PAIRS",)),
        ]
    low.arenas["act"] = act
    if low.kv_int8:
        m["KV_GROUP"] = low.kv_group
        m["KV_GROUPS"] = c.kv_dim // low.kv_group
        low.arenas["kv"] = [
            ("int8_t", "k", ("N_LAYERS", "SEQ_LEN", "KV_DIM")),
            ("int8_t", "v", ("N_LAYERS", "SEQ_LEN", "KV_DIM")),
            ("float", "ks", ("N_LAYERS", "SEQ_LEN", "KV_GROUPS")),
            ("float", "vs", ("N_LAYERS", "SEQ_LEN", "KV_GROUPS")),
        ]
    else:
        low.arenas["kv"] = [
            ("float", "k", ("N_LAYERS", "SEQ_LEN", "KV_DIM")),
            ("float", "v", ("N_LAYERS", "SEQ_LEN", "KV_DIM")),
        ]
    low.arenas["io"] = [
        ("float", "logits", ("VOCAB_SIZE",)),
        ("tinyc_llm_prob_index", "probs", ("VOCAB_SIZE",)),
        ("int32_t", "prompt", ("PROMPT_CAPACITY",)),
        ("char", "text", ("MERGE_BUFFER",)),
    ]
