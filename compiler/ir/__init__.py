"""tinyc's graph IR: SSA values and nodes, typed op definitions, text form, verifier."""

from __future__ import annotations

from tinyc.ir import ops as _ops  # noqa: F401  (fills the op registry)
from tinyc.ir.core import UNKNOWN_LOC, Graph, Loc, Node, Value
from tinyc.ir.dtypes import DType
from tinyc.ir.opdef import OPS, EvalContext, OpDef, get_op, register
from tinyc.ir.parser import parse_graph, parse_graphs
from tinyc.ir.printer import print_graph
from tinyc.ir.types import QuantParams, Shape, TensorType
from tinyc.ir.verifier import verify

__all__ = [
    "DType",
    "EvalContext",
    "Graph",
    "Loc",
    "Node",
    "OPS",
    "OpDef",
    "QuantParams",
    "Shape",
    "TensorType",
    "UNKNOWN_LOC",
    "Value",
    "get_op",
    "parse_graph",
    "parse_graphs",
    "print_graph",
    "register",
    "verify",
]
