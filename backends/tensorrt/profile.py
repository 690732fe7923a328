"""What a Jetson's TensorRT accepts: version, opsets, parsed ops, precisions, DLA — read from the target file.

The op lists follow the ONNX-TensorRT parser's support matrices
(``docs/operators.md`` of onnx/onnx-tensorrt for 8.2/8.4, 8.5 and 10.x). An op
missing from a list is treated as unsupported: tinyc rewrites it into
supported ops where a documented rewrite exists (``legalize.py``), otherwise
compilation stops with the node's name and the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tinyc.errors import TargetError

PRECISIONS = ("fp32", "fp16", "int8")

# Parsed by every TensorRT 8.2+ ONNX parser (the 8.2/8.4 matrix).
_TRT82 = frozenset(
    """
    Abs Acos Acosh Add And ArgMax ArgMin Asin Asinh Atan Atanh AveragePool BatchNormalization Cast Ceil Celu Clip
    Concat Constant ConstantOfShape Conv ConvTranspose Cos Cosh CumSum DepthToSpace DequantizeLinear Div Dropout
    Einsum Elu Equal Erf Exp Expand EyeLike Flatten Floor Gather GatherElements GatherND Gemm GlobalAveragePool
    GlobalLpPool GlobalMaxPool Greater GreaterOrEqual GRU HardSigmoid Identity If ImageScaler InstanceNormalization
    IsNaN LeakyRelu Less LessOrEqual Log LogSoftmax Loop LRN LSTM LpNormalization LpPool MatMul Max MaxPool Mean Min
    Mul Neg NonMaxSuppression Not Or Pad ParametricSoftplus Pow PRelu QuantizeLinear RandomUniform RandomUniformLike
    Range ReduceL1 ReduceL2 ReduceLogSum ReduceLogSumExp ReduceMax ReduceMean ReduceMin ReduceProd ReduceSum
    ReduceSumSquare Relu Reshape Resize ReverseSequence RNN Round ScaledTanh Scan Scatter ScatterElements ScatterND
    Selu Shape Sigmoid Sign Sin Sinh Size Slice Softmax Softplus Softsign SpaceToDepth Split Sqrt Squeeze Sub Sum Tan
    Tanh ThresholdedRelu Tile TopK Transpose Unsqueeze Upsample Where Xor
    """.split()
)
# Added by the 8.5 parser (JetPack 5).
_TRT85 = _TRT82 | frozenset(
    "GridSample HardSwish MeanVarianceNormalization Mod NonZero OneHot RandomNormal RandomNormalLike Reciprocal RoiAlign Shrink Trilu".split()
)
# Added by the 10.x parsers (JetPack 6). Gelu and Mish are left out on purpose:
# tinyc rewrites them into Erf/Tanh/Softplus forms every parser reads.
_TRT10 = _TRT85 | frozenset("CastLike GroupNormalization Hardmax IsInf LayerNormalization".split())

# Never parsed: integer-arithmetic quantized ops (TensorRT quantizes explicitly with Q/DQ only).
QUANTIZED_INTEGER_OPS = frozenset(
    {"QLinearConv", "QLinearMatMul", "QLinearAdd", "QLinearMul", "QLinearSigmoid", "QLinearLeakyRelu",
     "QLinearAveragePool", "QLinearGlobalAveragePool", "QLinearConcat", "QLinearSoftmax", "ConvInteger",
     "MatMulInteger", "DynamicQuantizeLinear"}
)  # fmt: skip


@dataclass(frozen=True)
class TrtProfile:
    """One Jetson's TensorRT facts, from its target file's ``[backend.options]``."""

    target: str
    tensorrt: str
    jetpack: str
    min_opset: int
    max_opset: int
    opset: int
    gpu: str
    fast_int8: bool
    dla_cores: int
    default_precision: str

    @property
    def version(self) -> tuple[int, int]:
        major, _, minor = self.tensorrt.partition(".")
        return int(major), int(minor.split(".")[0] or 0)

    @property
    def int64_weights(self) -> bool:
        """TensorRT 10 has INT64 tensors; 8.x casts INT64 weights down to INT32 (with a warning)."""
        return self.version[0] >= 10

    @property
    def ops(self) -> frozenset[str]:
        """ONNX op types this TensorRT's parser reads."""
        if self.version >= (10, 0):
            return _TRT10
        if self.version >= (8, 5):
            return _TRT85
        return _TRT82

    @property
    def orin_dla(self) -> bool:
        """NVDLA v2 (Orin) runs a few more layers than Xavier's v1 (softmax, unary, reductions, slices)."""
        return self.gpu == "ampere"

    @property
    def cast_targets(self) -> frozenset[int]:
        """ONNX element types Cast may produce (8.x: FLOAT, FLOAT16, INT32, INT8, BOOL; 10.x adds INT64, UINT8)."""
        base = {1, 10, 6, 3, 9}
        return frozenset(base | {7, 2}) if self.int64_weights else frozenset(base)

    def describe(self) -> str:
        return f"TensorRT {self.tensorrt} (JetPack {self.jetpack}) on {self.target}"


def profile_of(target: Any) -> TrtProfile:
    """The TensorRT profile of a target whose backend is ``tensorrt``."""
    opts = dict(getattr(target, "backend_options", {}) or {})
    where = f"target {target.name!r}"

    def get(key: str, kind: type, default: Any = None) -> Any:
        if key not in opts:
            if default is None:
                raise TargetError(f"[backend.options] lacks {key!r}", where=where, hint="the tensorrt backend needs tensorrt, jetpack, min_opset, max_opset, gpu, dla_cores")
            return default
        value = opts[key]
        if kind is str:
            value = str(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise TargetError(f"[backend.options] {key} = {value!r} should be a {kind.__name__}", where=where)
        return value

    min_opset, max_opset = get("min_opset", int), get("max_opset", int)
    opset = get("opset", int, min(max_opset, 17))
    if not min_opset <= opset <= max_opset:
        raise TargetError(f"[backend.options] opset {opset} is outside the target's range {min_opset}-{max_opset}", where=where)
    precision = get("precision", str, "fp16")
    if precision not in PRECISIONS:
        raise TargetError(f"[backend.options] precision {precision!r} is not one of {', '.join(PRECISIONS)}", where=where)
    return TrtProfile(
        target=target.name,
        tensorrt=get("tensorrt", str),
        jetpack=get("jetpack", str, "?"),
        min_opset=min_opset,
        max_opset=max_opset,
        opset=opset,
        gpu=get("gpu", str, "unknown"),
        fast_int8=get("fast_int8", bool, True),
        dla_cores=get("dla_cores", int, 0),
        default_precision=precision,
    )
