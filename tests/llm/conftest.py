"""Fixtures of the decoder tests: stories260K, its tokenizer, the llama2.c greedy ids, host builds."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED_MODELS = Path(os.environ.get("TINYC_SHARED_MODELS", REPO.parent / "shared" / "models"))
LLAMA = "llama2c/"


def shared_model(rel: str) -> Path:
    path = SHARED_MODELS / rel
    if not path.exists():
        pytest.skip(f"shared model {rel} not found under {SHARED_MODELS}")
    return path


def read_greedy_ids(path: Path) -> dict[str, list[int]]:
    """prompt -> ids from stories260K_greedy_ids.txt (``prompt=...`` then ``ids=...`` lines)."""
    out: dict[str, list[int]] = {}
    prompt = None
    for line in path.read_text().splitlines():
        if line.startswith("prompt="):
            prompt = line[len("prompt=") :]
        elif line.startswith("ids=") and prompt is not None:
            out[prompt] = [int(x) for x in line[len("ids=") :].split()]
    return out


@pytest.fixture(scope="session")
def stories260k() -> Path:
    return shared_model(LLAMA + "stories260K.bin")


@pytest.fixture(scope="session")
def tok512() -> Path:
    return shared_model(LLAMA + "tok512.bin")


@pytest.fixture(scope="session")
def greedy_ids() -> dict[str, list[int]]:
    ids = read_greedy_ids(shared_model(LLAMA + "stories260K_greedy_ids.txt"))
    assert len(ids) == 2 and all(len(v) == 256 for v in ids.values())
    return ids


@pytest.fixture(scope="session")
def story_text() -> bytes:
    """run.c's output for "Once upon a time" (the story and its final newline)."""
    return shared_model(LLAMA + "stories260K_greedy_once_upon_a_time.txt").read_bytes()


@pytest.fixture(scope="session")
def model260k(stories260k):  # type: ignore[no-untyped-def]
    from tinyc.frontends.llama2c import read_checkpoint

    return read_checkpoint(stories260k)


@pytest.fixture(scope="session")
def tokenizer512(tok512, model260k):  # type: ignore[no-untyped-def]
    from tinyc.frontends.llama2c import read_tokenizer

    return read_tokenizer(tok512, model260k.config.vocab_size)


def need_gcc() -> None:
    if shutil.which("gcc") is None:
        pytest.skip("gcc not installed")


@pytest.fixture(scope="session")
def host_float(model260k, tokenizer512, tmp_path_factory):  # type: ignore[no-untyped-def]
    """stories260K float32 built with the host gcc, ASan and UBSan."""
    need_gcc()
    from tinyc.llm.runner import build_host_program

    return build_host_program(model260k, tokenizer512, None, workdir=tmp_path_factory.mktemp("f32"), sanitize=True)


@pytest.fixture(scope="session")
def host_int8(model260k, tokenizer512, tmp_path_factory):  # type: ignore[no-untyped-def]
    """stories260K with int8 weights and an int8 KV cache, host gcc with sanitizers."""
    need_gcc()
    from tinyc.llm.runner import build_host_program

    return build_host_program(
        model260k, tokenizer512, {"kv_cache": "int8"}, workdir=tmp_path_factory.mktemp("i8"), sanitize=True, int8=True
    )
