"""The synthetic calibration inputs (tools/calibration_data.py): deterministic, shaped and ranged like the real features."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

C = importlib.import_module("tools.calibration_data")

# Real-valued input ranges of the int8 reference models (scale * (q - zero point) for q in [-128, 127]).
KWS_RANGE = ((-128 - 83) * 0.5847029089927673, (127 - 83) * 0.5847029089927673)
AD_RANGE = ((-128 - 89) * 0.3910152316093445, (127 - 89) * 0.3910152316093445)


def test_kws_features_are_deterministic_and_shaped() -> None:
    a = C.kws_features(6, seed=3)
    b = C.kws_features(6, seed=3)
    assert a.shape == (6, 49, 10, 1) and a.dtype == np.float32
    assert np.array_equal(a, b)
    assert not np.array_equal(a, C.kws_features(6, seed=4))


def test_ad_features_are_deterministic_and_shaped() -> None:
    a = C.ad_features(10, seed=1)
    assert a.shape == (10, 640) and a.dtype == np.float32
    assert np.array_equal(a, C.ad_features(10, seed=1))
    assert not np.array_equal(a, C.ad_features(10, seed=2))


def test_kws_silence_is_the_bottom_of_the_int8_input_range() -> None:
    mfcc = C.kws_mfcc(np.zeros(C.SR))
    assert mfcc.shape == (49, 10)
    # c0 of log(1e-6) in every band: 40 * log(1e-6) * 2 / sqrt(80); the other coefficients vanish
    assert np.allclose(mfcc[:, 0], 40 * np.log(1e-6) * 2 / np.sqrt(80))
    assert np.allclose(mfcc[:, 1:], 0, atol=1e-9)
    assert abs(mfcc[0, 0] - KWS_RANGE[0]) < 0.5


def test_kws_features_fill_the_int8_models_input_range() -> None:
    x = C.kws_features(40, seed=0)
    inside = np.mean((x >= KWS_RANGE[0] - 0.5) & (x <= KWS_RANGE[1]))
    assert inside > 0.99
    assert x[..., 0, 0].max() > 0  # some loud frames, not only silence
    assert np.percentile(x[..., 0, 0], 50) > -100


def test_ad_features_stay_in_the_int8_models_input_range() -> None:
    x = C.ad_features(40, seed=0)
    assert x.min() >= AD_RANGE[0] and x.max() <= AD_RANGE[1]
    assert x.max() - x.min() > 30  # a real spread of levels across the mel bands


def test_mel_filters_put_a_tone_in_the_right_band() -> None:
    tone = 0.5 * np.sin(2 * np.pi * 1000.0 * np.arange(C.SR) / C.SR)
    htk_centres = 700 * (np.exp(np.linspace(C._hz_to_mel_htk(20.0), C._hz_to_mel_htk(4000.0), C.KWS_MELS + 2)[1:-1] / 1127.0) - 1)
    mag = np.abs(np.fft.rfft(tone[:480] * np.hanning(480), n=512))
    band = int(np.argmax(mag @ C.htk_mel_matrix(C.KWS_MELS, 257, C.SR, 20.0, 4000.0)))
    assert abs(htk_centres[band] - 1000.0) < 80
    log_mel = C.ad_log_mel(tone)
    peak = int(np.argmax(log_mel.mean(axis=0)))
    slaney_hz = C._mel_to_hz_slaney(np.linspace(0, C._hz_to_mel_slaney(8000.0), C.AD_MELS + 2))[1:-1]
    assert abs(slaney_hz[peak] - 1000.0) < 60


def test_ad_vectors_are_frame_major() -> None:
    log_mel = np.arange(7 * 128, dtype=np.float64).reshape(7, 128)
    v = C.ad_vectors(log_mel)
    assert v.shape == (3, 640)
    assert np.array_equal(v[1, 128:256], log_mel[2])


def test_cli_writes_an_npz(tmp_path: Path) -> None:
    out = tmp_path / "kws.npz"
    assert C.main(["kws", "--count", "3", "--seed", "5", "--out", str(out)]) == 0
    with np.load(out) as data:
        assert np.array_equal(data["input_1"], C.kws_features(3, 5))
