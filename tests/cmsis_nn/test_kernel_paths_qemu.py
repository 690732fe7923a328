"""Every code path of the conv / depthwise / FC kernels, through the real backend, on the host and on QEMU.

The runtime has plain C paths (the host build) and DSP paths (SMLAD / SXTB16,
compiled for Cortex-M7 only): convolutions through a column pair (1x1:
two pixels widened; otherwise im2col with padding, stride, dilation) with
tails of K % 4 and odd pixel / channel counts, receptive fields gathered as
int8 (up to 256 values) or per value; depthwise four channels at a time with
cached widened weights (up to 5x5) or weights read from flash (larger
filters), unrolled 2- and 3-wide windows beside clipped edge columns and
chunks of 16 pixels, a plain tail of in_c % 4 channels and channel multipliers;
FC two rows at a time with an odd row left; stride-1 1x1 convolutions with
every output channel count up to 9 through the direct pointwise path. Small
random layers that reach each of them are compiled by tinyc, run under
ASan/UBSan on the host and on the emulated Cortex-M7, and compared bit for
bit with the NumPy oracle.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cmsis_graphs import Builder
from cmsis_helpers import ARM_GCC, GCC, QEMU, check_against_oracle, samples

from tinyc.backends.cmsis_nn.harness import BuildInfo, build_host, build_qemu, run_harness
from tinyc.ir.core import Graph
from tinyc.targets import load_target


def first_conv(seed: int = 20) -> Graph:
    """KWS's first layer in small: one input channel, 5x4 filter, stride 2, asymmetric padding, odd channel count;
    input zero point -128 (offset +128, the top of the range)."""
    b = Builder("first_conv", seed)
    x = b.float_input("mfcc", (1, 13, 6, 1), scale=0.5, zp=-128)
    h = b.conv(x, 7, (5, 4), stride=(2, 2), pads=(2, 1, 2, 1), act=(0.0, None), name="conv0")
    b.float_output(h, "features")
    return b.g


def pointwise(seed: int = 21) -> Graph:
    """1x1 convolutions: odd input channels (K % 4 = 3), odd pixel count, odd output channels, stride 2, clamp;
    input zero point 127 (offset -127, the bottom of the range)."""
    b = Builder("pointwise", seed)
    x = b.float_input("x", (1, 3, 5, 7), scale=0.03, zp=127)
    h = b.conv(x, 5, (1, 1), act=(0.0, 6.0), name="pw_odd")  # 15 pixels, 7 -> 5
    h = b.conv(h, 9, (1, 1), stride=(2, 2), name="pw_stride", per_tensor=True)  # 2x3 pixels
    h = b.conv(h, 8, (1, 1), act=(-0.5, 0.5), name="pw_even")
    b.float_output(h, "y")
    return b.g


def im2col(seed: int = 22) -> Graph:
    """Convolutions through im2col: dilation, padding on every side, stride, K % 4 of 1, 2 and 0."""
    b = Builder("im2col", seed)
    x = b.float_input("x", (2, 7, 9, 6), scale=0.04, zp=-3)
    h = b.conv(x, 3, (3, 3), dil=(2, 1), pads=(2, 1, 2, 1), name="dilated")  # K = 54: tail 2
    h = b.conv(h, 6, (1, 3), stride=(1, 2), pads=(0, 1, 0, 0), act=(0.0, None), name="padded_1x3")  # K = 9: tail 1
    h = b.conv(h, 4, (2, 2), stride=(2, 1), pads=(1, 0, 0, 1), name="k24", per_tensor=True)  # K = 24
    b.float_output(h, "y")
    return b.g


def depthwise(seed: int = 23) -> Graph:
    """Depthwise: 4-channel groups plus a plain tail (7 = 4 + 3), stride 2, 5x5 (cached weights), 7x7 (weights
    read from flash), channel multiplier 2 (plain path), clamps."""
    b = Builder("depthwise", seed)
    x = b.float_input("x", (1, 9, 8, 7), scale=0.05, zp=-128)
    h = b.dwconv(x, (3, 3), stride=(2, 2), pads=(1, 1, 1, 0), act=(0.0, None), name="dw_stride")  # 5x4x7
    h = b.dwconv(h, (5, 5), pads=(2, 2, 2, 2), act=(-1.0, 1.0), name="dw5")
    h = b.dwconv(h, (7, 7), pads=(3, 3, 3, 3), name="dw7")
    h = b.conv(h, 8, (1, 1), name="pw")
    h = b.dwconv(h, (2, 3), mult=2, pads=(0, 1, 1, 1), name="dw_mult")
    b.float_output(h, "y")
    return b.g


def banded(seed: int = 24) -> Graph:
    """A depthwise / pointwise chain the backend runs in place in bands (one row, a few pixels per call)."""
    b = Builder("banded", seed)
    x = b.float_input("x", (1, 11, 5, 2), scale=0.1, zp=10)
    h = b.conv(x, 12, (3, 3), pads=(1, 1, 1, 1), act=(0.0, None), name="conv0")
    for i in range(2):
        h = b.dwconv(h, (3, 3), pads=(1, 1, 1, 1), act=(0.0, None), name=f"dw{i}")
        h = b.conv(h, 12, (1, 1), act=(0.0, None), name=f"pw{i}")
    h = b.pool("AvgPool2D", h, (11, 5), name="pool")
    h = b.reshape(h, (1, 12), name="flat")
    b.float_output(b.fc(h, 5, name="fc", per_tensor=False), "y")
    return b.g


def fully_connected(seed: int = 25) -> Graph:
    """FC: odd row counts, per-tensor and per-channel, K % 4 of 3, a clamp, no bias."""
    b = Builder("fully_connected", seed)
    x = b.float_input("x", (1, 23), scale=0.05, zp=127)
    h = b.fc(x, 9, act=(0.0, None), name="fc1")
    h = b.fc(h, 7, name="fc2", per_tensor=False, bias=False)
    h = b.fc(h, 4, act=(-0.3, 0.3), name="fc3")
    b.float_output(h, "y")
    return b.g


def dw_dilated(b: Builder, x, k: tuple[int, int], *, dil: tuple[int, int], stride=(1, 1), pads=(0, 0, 0, 0), name: str):
    """A depthwise layer with dilation (the graph builder's dwconv has none)."""
    n, h, w, c = x.type.shape
    wt = b.weights(f"{name}_w", (1, k[0], k[1], c), 3)
    bias = b.bias(f"{name}_b", c)
    oh = (h + pads[0] + pads[2] - ((k[0] - 1) * dil[0] + 1)) // stride[0] + 1
    ow = (w + pads[1] + pads[3] - ((k[1] - 1) * dil[1] + 1)) // stride[1] + 1
    return b.node(
        "DepthwiseConv2D",
        [x, wt, bias],
        b.act_type((n, oh, ow, c)),
        name,
        strides=stride,
        dilations=dil,
        pads=pads,
        depth_multiplier=1,
        act_min=None,
        act_max=None,
    )


def dw_edges(seed: int = 26) -> Graph:
    """Depthwise interior / edge split: 3x3 with padding 0, 1 and 2 (no interior column at all for widths 1 and
    2), strides 1 and 2, dilation 2, 1x3 / 3x1 / 2x2 / 5x5 windows (unrolled 2- and 3-wide rows, the generic
    loop), widths 1, 2, 5 and 19 (more than one 16-pixel chunk), 64 channels; input zero point -128 (offset +128)
    and a clamp inside the int8 range (the non-SSAT requantization)."""
    b = Builder("dw_edges", seed)
    x = b.float_input("x", (1, 6, 19, 64), scale=0.05, zp=-128)
    h = b.dwconv(x, (3, 3), pads=(1, 1, 1, 1), name="dw_p1")  # 6x19: two chunks
    h = b.dwconv(h, (3, 3), stride=(2, 2), pads=(2, 2, 2, 2), act=(-0.5, 0.7), name="dw_p2_s2")  # 5x11
    h = dw_dilated(b, h, (3, 3), dil=(2, 2), pads=(1, 2, 2, 1), name="dw_dil")  # 4x9
    h = b.dwconv(h, (1, 3), stride=(1, 2), name="dw_1x3")  # 4x4, no padding
    h = b.dwconv(h, (3, 1), pads=(1, 0, 1, 0), name="dw_3x1")
    h = b.dwconv(h, (2, 2), pads=(0, 0, 1, 1), name="dw_2x2")  # 4x4
    h = b.dwconv(h, (5, 5), pads=(2, 2, 2, 2), act=(0.0, None), name="dw_5x5")
    h = b.pool("AvgPool2D", h, (1, 2), stride=(1, 2), name="narrow")  # 4x2
    h = b.dwconv(h, (3, 3), pads=(1, 1, 1, 1), name="dw_w2")  # width 2: edges only
    h = b.pool("AvgPool2D", h, (1, 2), name="narrower")  # 4x1
    h = b.dwconv(h, (3, 3), pads=(1, 1, 1, 1), name="dw_w1")  # width 1
    b.float_output(h, "y")
    return b.g


def dw_channels(seed: int = 27) -> Graph:
    """Depthwise with 1..9 channels in turn (no four-channel group, one group plus every plain tail, two groups),
    width 5 with stride 1 and 2, a 1x1 convolution in between to change the channel count, multiplier 2 at the
    end; input zero point 127 (offset -127, the other end of the range)."""
    b = Builder("dw_channels", seed)
    h = b.float_input("x", (1, 7, 5, 1), scale=0.05, zp=127)
    for c in range(1, 10):
        if c > 1:
            h = b.conv(h, c, (1, 1), name=f"pw{c}")
        h = b.dwconv(
            h,
            (3, 3),
            stride=(1 + c % 2, 1),
            pads=(1, 1, 1, 1),
            act=(0.0, None) if c % 3 == 0 else (None, None),
            name=f"dw{c}",
        )
        if h.type.shape[1] < 4:
            h = b.conv(h, c, (3, 1), pads=(2, 0, 2, 0), name=f"grow{c}")
    h = b.dwconv(h, (3, 3), mult=2, pads=(1, 1, 1, 1), name="dw_mult2")
    b.float_output(h, "y")
    return b.g


def conv_staging(seed: int = 28) -> Graph:
    """im2col gathered as int8 (receptive fields up to 256 values) with padding on every side and input zero point
    127 (padding gathered as 127), against the per-value fill beyond 256 values (3x3x29 = 261)."""
    b = Builder("conv_staging", seed)
    x = b.float_input("x", (1, 6, 7, 28), scale=0.05, zp=127)
    h = b.conv(x, 29, (3, 3), pads=(1, 2, 2, 1), name="staged_252")  # K = 252
    h = b.conv(h, 6, (3, 3), stride=(2, 1), pads=(1, 1, 1, 1), act=(0.0, None), name="fallback_261")  # K = 261
    h = b.conv(h, 5, (1, 4), stride=(1, 2), pads=(0, 3, 0, 2), name="wide_pads")  # windows hanging over both sides
    b.float_output(h, "y")
    return b.g


def pointwise_channels(seed: int = 29) -> Graph:
    """1x1 stride-1 convolutions (the direct pointwise path: two channels per pass, requantized in the SMLAL form
    when the clamp is the int8 range) with 1..9 and 64 output channels in turn (every odd-channel tail), 15 pixels
    (odd: the last pixel alone), input depths 12, 1..9 and 64 (K % 8 = 4 group, K % 4 tails); ReLU (full int8
    range after requantization) on odd counts, none on even counts, one layer clamped inside the int8 range."""
    b = Builder("pointwise_channels", seed)
    h = b.float_input("x", (1, 5, 3, 12), scale=0.05, zp=-128)
    for c in [*range(1, 10), 64]:
        h = b.conv(h, c, (1, 1), act=(0.0, None) if c % 2 else (None, None), name=f"pw{c}", per_tensor=c == 4)
    h = b.conv(h, 64, (1, 1), name="pw64_64")
    h = b.conv(h, 7, (1, 1), act=(-0.4, 0.4), name="pw_clamped")
    b.float_output(h, "y")
    return b.g


FACTORIES = [
    first_conv,
    pointwise,
    im2col,
    depthwise,
    banded,
    fully_connected,
    dw_edges,
    dw_channels,
    conv_staging,
    pointwise_channels,
]


@pytest.mark.skipif(GCC is None, reason="gcc not installed")
@pytest.mark.parametrize("factory", FACTORIES, ids=[f.__name__ for f in FACTORIES])
def test_plain_paths_on_host(factory, compiled, tmp_path: Path) -> None:
    art = compiled(factory(), factory.__name__)
    info = BuildInfo.read(art.output_dir)
    exe = build_host(art.output_dir, tmp_path / "host", sanitize=True, opt="-O1")
    xs, fxs = samples(info, 6, seed=5)
    check_against_oracle(factory, run_harness(exe, info, tmp_path / "host", xs, fxs), xs, fxs)


@pytest.mark.qemu
@pytest.mark.skipif(ARM_GCC is None or QEMU is None, reason="arm-none-eabi-gcc / qemu-system-arm not installed")
@pytest.mark.parametrize("factory", FACTORIES, ids=[f.__name__ for f in FACTORIES])
def test_dsp_paths_on_cortex_m7(factory, compiled, tmp_path: Path) -> None:
    art = compiled(factory(), factory.__name__)
    info = BuildInfo.read(art.output_dir)
    elf = build_qemu(art.output_dir, tmp_path / "m7", load_target("stm32h7"))
    xs, fxs = samples(info, 6, seed=5)
    check_against_oracle(factory, run_harness(elf, info, tmp_path / "m7", xs, fxs, on="qemu"), xs, fxs)


def test_banded_graph_runs_in_bands(compiled) -> None:
    """The chain above does take the banded schedule (so the band calls' small pixel counts are what runs)."""
    art = compiled(banded(), "banded")
    src = (art.output_dir / "banded.c").read_text()
    assert "in place in" in src
