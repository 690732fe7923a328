"""Realistic-looking inputs for the MLPerf Tiny KWS and AD models, synthesised with NumPy.

Quantization needs inputs whose value distribution looks like the real
features; the real datasets (Speech Commands, ToyADMOS) are not shipped, so
this module synthesises audio and runs the same feature extraction the
benchmark's training pipelines use:

* **KWS** (DS-CNN, input [1, 49, 10, 1]): 1 s of 16 kHz audio -> STFT (480-sample
  periodic Hann window, hop 320, FFT 512, magnitude) -> 40 HTK-mel bands
  20-4000 Hz (TensorFlow's ``linear_to_mel_weight_matrix``) -> ``log(mel + 1e-6)``
  -> DCT-II scaled by ``1 / sqrt(2 * 40)`` (TensorFlow's
  ``mfccs_from_log_mel_spectrograms``), first 10 coefficients. The audio is a
  "word": a voiced source (harmonics of a gliding 90-250 Hz pitch shaped by
  two or three formants that change per syllable) with fricative noise
  bursts, an attack/decay envelope, sometimes a tone or a chirp, over
  background noise from digital silence to -30 dBFS. The int8 reference
  model's input scale 0.5847 and zero point 83 cover [-123.4, 25.7]: silence
  gives c0 = 40 * log(1e-6) * 2 / sqrt(80) = -123.6, loud speech about +25;
  the synthetic features span the same range.
* **AD** (autoencoder, input [1, 640]): 16 kHz machine-like sound -> librosa's
  ``melspectrogram`` defaults as the DCASE 2020 baseline calls them (centred
  STFT with reflect padding, 1024-point periodic Hann, hop 512, power 2,
  128 Slaney-normalised Slaney-scale mel bands 0-8 kHz) ->
  ``10 * log10(mel + eps)`` -> five consecutive frames concatenated (frame-major).
  The sound is a motor: a 30-200 Hz fundamental with decaying harmonics,
  amplitude-modulated by the rotation, a gear-mesh tone, periodic clicks,
  and pink-ish background noise. The int8 model's input covers [-84.9, 14.9] dB;
  the synthetic vectors fall in that range.

Everything is seeded: the same (count, seed) gives the same arrays.

Usage::

    python tools/calibration_data.py kws --count 200 --seed 0 --out kws_calib.npz
    python tools/calibration_data.py ad --count 200 --seed 1 --out ad_calib.npz
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

SR = 16000


# --------------------------------------------------------------------------
# KWS: MFCC as MLPerf Tiny's TensorFlow pipeline computes it
# --------------------------------------------------------------------------

KWS_FRAME, KWS_HOP, KWS_FFT, KWS_MELS, KWS_COEFFS = 480, 320, 512, 40, 10


def _hz_to_mel_htk(f: np.ndarray) -> np.ndarray:
    return 1127.0 * np.log1p(np.asarray(f, dtype=np.float64) / 700.0)


def htk_mel_matrix(num_mel: int, num_bins: int, sr: int, lo_hz: float, hi_hz: float) -> np.ndarray:
    """[num_bins, num_mel] triangles on the HTK mel scale, DC bin zeroed (TensorFlow's definition)."""
    bin_mel = _hz_to_mel_htk(np.linspace(0.0, sr / 2.0, num_bins))[1:, None]
    edges = np.linspace(_hz_to_mel_htk(lo_hz), _hz_to_mel_htk(hi_hz), num_mel + 2)
    lower, center, upper = edges[:-2], edges[1:-1], edges[2:]
    up = (bin_mel - lower) / (center - lower)
    down = (upper - bin_mel) / (upper - center)
    w = np.maximum(0.0, np.minimum(up, down))
    return np.vstack([np.zeros((1, num_mel)), w])


def kws_mfcc(audio: np.ndarray) -> np.ndarray:
    """[49, 10] MFCCs of 1 s of 16 kHz audio in [-1, 1]."""
    n_frames = 1 + (len(audio) - KWS_FRAME) // KWS_HOP
    idx = np.arange(KWS_FRAME)[None, :] + KWS_HOP * np.arange(n_frames)[:, None]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(KWS_FRAME) / KWS_FRAME)  # periodic Hann
    mag = np.abs(np.fft.rfft(audio[idx] * window, n=KWS_FFT, axis=1))
    mel = mag @ htk_mel_matrix(KWS_MELS, KWS_FFT // 2 + 1, SR, 20.0, 4000.0)
    log_mel = np.log(mel + 1e-6)
    n = np.arange(KWS_MELS)
    k = np.arange(KWS_COEFFS)[:, None]
    dct = 2.0 * np.cos(np.pi * k * (2 * n + 1) / (2 * KWS_MELS))  # unnormalised DCT-II
    return (log_mel @ dct.T) / np.sqrt(2.0 * KWS_MELS)


def _band_noise(rng: np.random.Generator, n: int, lo_hz: float, hi_hz: float) -> np.ndarray:
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1.0 / SR)
    spec[(f < lo_hz) | (f > hi_hz)] = 0
    out = np.fft.irfft(spec, n)
    return out / (np.std(out) + 1e-12)


def _envelope(n: int, start: int, length: int, attack: int, release: int) -> np.ndarray:
    env = np.zeros(n)
    end = min(n, start + length)
    t = np.arange(start, end) - start
    env[start:end] = np.minimum(1.0, np.minimum(t / max(attack, 1), (length - t) / max(release, 1)))
    return np.clip(env, 0.0, 1.0)


def _voiced(rng: np.random.Generator, n: int) -> np.ndarray:
    """Harmonics of a gliding pitch shaped by per-syllable formants."""
    t = np.arange(n) / SR
    f0 = rng.uniform(90, 250) * (1 + 0.08 * np.sin(2 * np.pi * rng.uniform(2, 6) * t) + rng.uniform(-0.15, 0.15) * t)
    phase = 2 * np.pi * np.cumsum(f0) / SR
    syllables = int(rng.integers(1, 4))
    bounds = np.linspace(0, n, syllables + 1).astype(int)
    out = np.zeros(n)
    for s in range(syllables):
        sl = slice(bounds[s], bounds[s + 1])
        formants = [(rng.uniform(300, 900), rng.uniform(60, 150)), (rng.uniform(900, 2500), rng.uniform(80, 200)), (rng.uniform(2300, 3400), rng.uniform(120, 300))]
        for h in range(1, int(4000 / f0.min()) + 1):
            fh = h * f0[sl]
            amp = sum(1.0 / (1.0 + ((fh - fc) / bw) ** 2) for fc, bw in formants) / np.sqrt(h)
            out[sl] += amp * np.sin(h * phase[sl] + h * 0.7)
    return out / (np.max(np.abs(out)) + 1e-12)


def kws_audio(rng: np.random.Generator) -> np.ndarray:
    """One second of synthetic speech-like audio (see the module docstring)."""
    n = SR
    kind = rng.random()
    background = 0.0 if rng.random() < 0.15 else 10 ** rng.uniform(-4.5, -1.5)
    audio = background * (_band_noise(rng, n, 20, 8000) * 0.5 + _band_noise(rng, n, 20, 800))
    if kind < 0.1:
        return audio  # background only ("silence" / "unknown" class inputs)
    length = int(rng.uniform(0.3, 0.8) * n)
    start = int(rng.integers(0, n - length))
    word = _voiced(rng, n) * _envelope(n, start, length, int(rng.uniform(0.01, 0.06) * SR), int(rng.uniform(0.05, 0.2) * SR))
    for _ in range(int(rng.integers(0, 3))):  # fricatives
        blen = int(rng.uniform(0.04, 0.15) * n)
        bstart = int(rng.integers(start, max(start + 1, start + length - blen)))
        word += rng.uniform(0.1, 0.6) * _band_noise(rng, n, 2500, 7500) * _envelope(n, bstart, blen, 200, 400)
    if kind > 0.85:  # a tone or a chirp on top
        t = np.arange(n) / SR
        f_start, f_end = rng.uniform(200, 3000), rng.uniform(200, 3000)
        word += 0.3 * np.sin(2 * np.pi * (f_start * t + (f_end - f_start) * t**2 / 2)) * _envelope(n, start, length, 400, 800)
    peak = 10 ** rng.uniform(-1.6, 0.0)
    return audio + peak * word / (np.max(np.abs(word)) + 1e-12)


def kws_features(count: int, seed: int = 0) -> np.ndarray:
    """``count`` MFCC inputs [count, 49, 10, 1] float32 for the KWS DS-CNN."""
    rng = np.random.default_rng(seed)
    return np.stack([kws_mfcc(kws_audio(rng)) for _ in range(count)])[..., None].astype(np.float32)


# --------------------------------------------------------------------------
# AD: log-mel frames as the DCASE 2020 baseline (librosa) computes them
# --------------------------------------------------------------------------

AD_FFT, AD_HOP, AD_MELS, AD_FRAMES = 1024, 512, 128, 5


def _hz_to_mel_slaney(f: np.ndarray) -> np.ndarray:
    f = np.asarray(f, dtype=np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-12) / min_log_hz) / logstep, f / f_sp)


def _mel_to_hz_slaney(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


def slaney_mel_matrix(num_mel: int, n_fft: int, sr: int) -> np.ndarray:
    """[num_mel, n_fft // 2 + 1] Slaney-scale triangles with area normalisation (librosa's defaults)."""
    fft_hz = np.linspace(0.0, sr / 2.0, n_fft // 2 + 1)
    mel_hz = _mel_to_hz_slaney(np.linspace(_hz_to_mel_slaney(0.0), _hz_to_mel_slaney(sr / 2.0), num_mel + 2))
    diff = np.diff(mel_hz)
    ramps = mel_hz[:, None] - fft_hz[None, :]
    lower = -ramps[:-2] / diff[:-1, None]
    upper = ramps[2:] / diff[1:, None]
    w = np.maximum(0.0, np.minimum(lower, upper))
    return w * (2.0 / (mel_hz[2:] - mel_hz[:-2]))[:, None]


def ad_log_mel(audio: np.ndarray) -> np.ndarray:
    """[frames, 128] ``10 log10`` mel power spectrogram (centred frames, reflect padding)."""
    padded = np.pad(audio, AD_FFT // 2, mode="reflect")
    n_frames = 1 + (len(padded) - AD_FFT) // AD_HOP
    idx = np.arange(AD_FFT)[None, :] + AD_HOP * np.arange(n_frames)[:, None]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(AD_FFT) / AD_FFT)
    power = np.abs(np.fft.rfft(padded[idx] * window, axis=1)) ** 2
    mel = power @ slaney_mel_matrix(AD_MELS, AD_FFT, SR).T
    return 10.0 * np.log10(mel + np.finfo(np.float64).eps)


def ad_vectors(log_mel: np.ndarray) -> np.ndarray:
    """Five consecutive frames per row, frame-major: [frames - 4, 640]."""
    n = log_mel.shape[0] - AD_FRAMES + 1
    return np.concatenate([log_mel[t : t + n] for t in range(AD_FRAMES)], axis=1)


def ad_audio(rng: np.random.Generator, seconds: float = 2.0) -> np.ndarray:
    """A synthetic machine: motor harmonics, rotation AM, gear-mesh tone, clicks, pink-ish noise."""
    n = int(seconds * SR)
    t = np.arange(n) / SR
    f0 = rng.uniform(30, 200) * (1 + 0.01 * np.sin(2 * np.pi * rng.uniform(0.2, 1.0) * t))
    phase = 2 * np.pi * np.cumsum(f0) / SR
    decay = rng.uniform(0.6, 0.95)
    motor = sum(decay**h * np.sin(h * phase + rng.uniform(0, 2 * np.pi)) for h in range(1, int(6000 / f0.max())))
    rot = 1 + rng.uniform(0.1, 0.5) * np.sin(2 * np.pi * rng.uniform(2, 15) * t)
    gear = rng.uniform(0.05, 0.3) * np.sin(2 * np.pi * rng.uniform(800, 4000) * t)
    clicks = np.zeros(n)
    period = int(SR / rng.uniform(2, 20))
    clicks[:: max(period, 1)] = rng.uniform(0.5, 2.0)
    clicks = np.convolve(clicks, np.exp(-np.arange(200) / 20.0) * rng.standard_normal(200), mode="same")
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1.0 / SR)
    noise = np.fft.irfft(spec / np.sqrt(np.maximum(f, 20.0) / 20.0), n)
    noise /= np.std(noise) + 1e-12
    mix = motor * rot / (np.max(np.abs(motor)) + 1e-12) + gear + 0.3 * clicks + rng.uniform(0.05, 0.5) * noise
    return 10 ** rng.uniform(-2.0, -0.6) * mix / (np.max(np.abs(mix)) + 1e-12)


def ad_features(count: int, seed: int = 0, per_clip: int = 8) -> np.ndarray:
    """``count`` 640-value log-mel vectors [count, 640] float32 for the AD autoencoder."""
    rng = np.random.default_rng(seed)
    rows: list[np.ndarray] = []
    while len(rows) < count:
        vecs = ad_vectors(ad_log_mel(ad_audio(rng)))
        take = rng.choice(len(vecs), size=min(per_clip, len(vecs), count - len(rows)), replace=False)
        rows.extend(vecs[np.sort(take)])
    return np.stack(rows).astype(np.float32)


# --------------------------------------------------------------------------

GENERATORS = {"kws": kws_features, "ad": ad_features}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", choices=sorted(GENERATORS))
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True, help=".npz to write (array 'input_1', one sample per row)")
    args = parser.parse_args(argv)
    data = GENERATORS[args.model](args.count, args.seed)
    np.savez(args.out, input_1=data)
    print(f"wrote {args.out}: input_1 {data.dtype}{list(data.shape)}, range [{data.min():.1f}, {data.max():.1f}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
