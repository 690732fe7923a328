"""Fixtures of the CMSIS-NN backend tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from cmsis_helpers import compile_graph

from tinyc.driver import Artifacts
from tinyc.ir.core import Graph


@pytest.fixture
def compiled(tmp_path: Path) -> Callable[..., Artifacts]:
    """compiled(graph, name, target="stm32h7") -> Artifacts in a fresh folder."""

    def make(graph: Graph, name: str, target: str = "stm32h7") -> Artifacts:
        return compile_graph(graph, tmp_path / f"{name}_build", name, target)

    return make
