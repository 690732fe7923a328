"""Simulated sensor board: a 4x4 grid of 3-axis magnetometers under a small permanent magnet.

Geometry (all lengths in millimetres, fields in microtesla):

- 16 sensors on the plane z = 0, pitch 10 mm, centred on the origin
  (x, y in {-15, -5, 5, 15}); sensor ``k`` sits at row ``k // 4`` (y) and
  column ``k % 4`` (x). Each reports (Bx, By, Bz); the 48 readings are laid out
  sensor by sensor: ``[B0x, B0y, B0z, B1x, ...]``.
- The magnet is a point dipole of fixed moment 0.015 A*m^2 (about a 3 mm x 2 mm
  N42 NdFeB disc) pointing straight up (+z), at x, y uniform in [-20, 20] mm
  and height z uniform in [10, 40] mm above the sensor plane.
- Field: B = mu0/(4 pi) * (3 r (m.r) / |r|^5 - m / |r|^3), r from the magnet
  to the sensor.
- Noise: each reading gets independent Gaussian noise (0.5 uT rms). The Earth's
  field is assumed removed by a baseline reading taken without the magnet;
  what remains of it (baseline drift, a tilted board) is a residual offset
  common to all 16 sensors, Gaussian with 2 uT rms per axis, drawn per sample.

The model does not see raw microtesla: ``preprocess`` compresses them with
asinh(B / 10 uT), which is linear for weak fields and logarithmic for strong
ones, so the 1/r^3 fall-off (readings from ~0.5 uT to ~3 mT) fits int8
quantization. Firmware does the same with ``asinhf(b / 10.0f)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MU0_OVER_4PI = 1e-7  # T*m/A

# Readings are compressed with asinh(B / FIELD_SCALE_UT) before the network.
FIELD_SCALE_UT = 10.0


@dataclass(frozen=True)
class BoardConfig:
    """The simulated board, magnet and noise; defaults are the documented demo setup."""

    grid: int = 4
    pitch_mm: float = 10.0
    moment_am2: float = 0.015
    x_range_mm: tuple[float, float] = (-20.0, 20.0)
    y_range_mm: tuple[float, float] = (-20.0, 20.0)
    z_range_mm: tuple[float, float] = (10.0, 40.0)
    noise_ut: float = 0.5
    offset_ut: float = 2.0

    @property
    def num_inputs(self) -> int:
        return self.grid * self.grid * 3


DEFAULT_BOARD = BoardConfig()


def sensor_positions(cfg: BoardConfig = DEFAULT_BOARD) -> np.ndarray:
    """[grid*grid, 3] sensor positions in mm, row-major (x varies fastest)."""
    coords = (np.arange(cfg.grid) - (cfg.grid - 1) / 2) * cfg.pitch_mm
    xs, ys = np.meshgrid(coords, coords, indexing="xy")
    return np.stack([xs.ravel(), ys.ravel(), np.zeros(cfg.grid * cfg.grid)], axis=1)


def dipole_field_ut(positions_mm: np.ndarray, cfg: BoardConfig = DEFAULT_BOARD) -> np.ndarray:
    """Noise-free field of an upward dipole at each [N, 3] position: [N, 3*grid*grid] in uT."""
    pos = np.asarray(positions_mm, dtype=np.float64)
    moment = np.array([0.0, 0.0, cfg.moment_am2])
    r = (sensor_positions(cfg)[None, :, :] - pos[:, None, :]) * 1e-3  # metres, magnet -> sensor
    dist = np.linalg.norm(r, axis=-1, keepdims=True)
    m_dot_r = r @ moment
    field_t = MU0_OVER_4PI * (3.0 * r * m_dot_r[..., None] / dist**5 - moment / dist**3)
    return (field_t * 1e6).reshape(len(pos), -1)


def sample_positions(n: int, rng: np.random.Generator, cfg: BoardConfig = DEFAULT_BOARD) -> np.ndarray:
    """[n, 3] magnet positions in mm, uniform in the configured box."""
    lows = [cfg.x_range_mm[0], cfg.y_range_mm[0], cfg.z_range_mm[0]]
    highs = [cfg.x_range_mm[1], cfg.y_range_mm[1], cfg.z_range_mm[1]]
    return rng.uniform(lows, highs, size=(n, 3))


def simulate(n: int, rng: np.random.Generator, cfg: BoardConfig = DEFAULT_BOARD) -> tuple[np.ndarray, np.ndarray]:
    """``n`` noisy readings and their true magnet positions: ([n, 48] uT, [n, 3] mm), float32."""
    positions = sample_positions(n, rng, cfg)
    readings = dipole_field_ut(positions, cfg)
    readings += rng.normal(0.0, cfg.noise_ut, size=readings.shape)
    offset = rng.normal(0.0, cfg.offset_ut, size=(n, 1, 3))
    readings += np.broadcast_to(offset, (n, cfg.grid * cfg.grid, 3)).reshape(n, -1)
    return readings.astype(np.float32), positions.astype(np.float32)


def preprocess(readings_ut: np.ndarray) -> np.ndarray:
    """Raw readings in uT -> the model's ``magnetometers`` input: asinh(B / 10 uT), float32."""
    return np.arcsinh(np.asarray(readings_ut, dtype=np.float32) / np.float32(FIELD_SCALE_UT)).astype(np.float32)
