"""tinyc: a compiler that puts neural networks on small devices."""

from __future__ import annotations

__version__ = "0.1.0"

from tinyc.errors import TinycError  # noqa: E402

__all__ = ["TinycError", "__version__"]
