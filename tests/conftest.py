"""Shared fixtures: paths to the real models in ../shared/models (skipped when absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

REPO = Path(__file__).resolve().parent.parent
SHARED_MODELS = Path(os.environ.get("TINYC_SHARED_MODELS", REPO.parent / "shared" / "models"))

settings.register_profile("ci", derandomize=True, deadline=None, max_examples=100)
settings.register_profile("dev", deadline=None, max_examples=50)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


def shared_model(rel: str) -> Path:
    """Path of a model under ../shared/models, or skip the test with the reason."""
    path = SHARED_MODELS / rel
    if not path.exists():
        pytest.skip(f"shared model {rel} not found under {SHARED_MODELS}")
    return path


@pytest.fixture
def kws_float() -> Path:
    return shared_model("mlperf-tiny/kws_dscnn_float.onnx")


@pytest.fixture
def ad_float() -> Path:
    return shared_model("mlperf-tiny/ad_autoencoder_float.onnx")
