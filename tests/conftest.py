"""Shared fixtures: paths to the real models in ../shared/models (skipped when absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

from tinyc.testing import shared_model, shared_models_dir

REPO = Path(__file__).resolve().parent.parent
SHARED_MODELS = shared_models_dir()

settings.register_profile("ci", derandomize=True, deadline=None, max_examples=100)
settings.register_profile("dev", deadline=None, max_examples=50)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture
def kws_float() -> Path:
    return shared_model("mlperf-tiny/kws_dscnn_float.onnx")


@pytest.fixture
def ad_float() -> Path:
    return shared_model("mlperf-tiny/ad_autoencoder_float.onnx")
