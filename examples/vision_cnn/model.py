"""A small MobileNetV2/V3-style int8 image classifier for the CMSIS-NN backend (random, seeded weights).

Usage, from the repository root::

    python -m examples.vision_cnn.model --out DIR
    tinyc validate DIR/vision_cnn.onnx --target stm32h7 --calib DIR/calib.npz --on qemu

The network (NCHW, 32x32x3 input, 10 classes, about 23k parameters) exercises
the ops real vision CNNs need: a strided stem convolution with ReLU6,
inverted residual blocks (1x1 expand + ReLU6, 3x3 depthwise, 1x1 project,
residual Add), a squeeze-and-excitation block (global average pool as a
mean, two 1x1 convolutions, Sigmoid, broadcast Mul), HardSwish, a two-branch
block joined by a Concat (the branches' scales differ, so the int8 Concat
requantizes), an explicit Pad before a max pool, and a head of global
average pool, fully connected layer and Softmax. BatchNorm layers carry
random statistics and fold into the convolutions.

The weights are random (``torch.manual_seed``), not trained: the example is
about compiling and running, not accuracy. Writes into DIR (default
``examples/vision_cnn/artifacts/``): ``vision_cnn.onnx`` and ``calib.npz``
(32 random images keyed by the input name ``image``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

DEFAULT_OUT = Path(__file__).resolve().parent / "artifacts"
MODEL_FILE = "vision_cnn.onnx"
CALIB_FILE = "calib.npz"
INPUT_SHAPE = (1, 3, 32, 32)
CLASSES = 10
SEED = 20240501


def _network():  # type: ignore[no-untyped-def]
    import torch
    from torch import nn
    from torch.nn import functional as F

    def conv_bn(c_in: int, c_out: int, k: int = 1, stride: int = 1, groups: int = 1) -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(c_in, c_out, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(c_out))

    class SqueezeExcite(nn.Module):
        def __init__(self, c: int, r: int = 4) -> None:
            super().__init__()
            self.reduce = nn.Conv2d(c, c // r, 1)
            self.expand = nn.Conv2d(c // r, c, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            s = x.mean((2, 3), keepdim=True)
            s = torch.sigmoid(self.expand(F.relu(self.reduce(s))))
            return x * s

    class InvertedResidual(nn.Module):
        def __init__(self, c_in: int, c_out: int, expand: int, stride: int, se: bool = False, hswish: bool = False) -> None:
            super().__init__()
            mid = c_in * expand
            self.expand = conv_bn(c_in, mid)
            self.dw = conv_bn(mid, mid, 3, stride, groups=mid)
            self.se = SqueezeExcite(mid) if se else None
            self.project = conv_bn(mid, c_out)
            self.act = nn.Hardswish() if hswish else nn.ReLU6()
            self.residual = stride == 1 and c_in == c_out

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = self.act(self.expand(x))
            h = self.act(self.dw(h))
            if self.se is not None:
                h = self.se(h)
            h = self.project(h)
            return x + h if self.residual else h

    class TwoBranch(nn.Module):
        """Two paths over the same input joined along channels (an Inception / ShuffleNet-style Concat)."""

        def __init__(self, c: int) -> None:
            super().__init__()
            self.left = conv_bn(c, c // 2)
            self.right = nn.Sequential(conv_bn(c, c // 2), nn.ReLU6(), conv_bn(c // 2, c // 2, 3, groups=c // 2))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return F.relu6(torch.cat([self.left(x), self.right(x)], dim=1))

    class VisionCnn(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = conv_bn(3, 16, 3, 2)  # 16x16
            self.block1 = InvertedResidual(16, 16, 2, 1)
            self.block2 = InvertedResidual(16, 24, 3, 2, se=True)  # 8x8
            self.block3 = InvertedResidual(24, 24, 3, 1, hswish=True)
            self.branch = TwoBranch(24)
            self.block4 = InvertedResidual(24, 32, 2, 2, se=True, hswish=True)  # 4x4
            self.fc = nn.Linear(32, CLASSES)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = F.relu6(self.stem(x))
            h = self.block1(h)
            h = self.block2(h)
            h = self.block3(h)
            h = self.branch(h)
            h = F.max_pool2d(F.pad(h, (0, 1, 0, 1), value=0.25), 2, stride=1)  # 8x8; a fill that can win the max keeps the Pad explicit
            h = self.block4(h)
            h = F.adaptive_avg_pool2d(h, 1).flatten(1)
            return F.softmax(self.fc(h), dim=-1)

    torch.manual_seed(SEED)
    net = VisionCnn()
    with torch.no_grad():  # random BatchNorm statistics, so the folds are not identities
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.7, 1.3)
                m.bias.uniform_(-0.1, 0.1)
    return net.eval()


def build_model(out: Path = DEFAULT_OUT) -> Path:
    """Export the network to ``out/vision_cnn.onnx`` and write ``out/calib.npz``; returns the model path."""
    import torch

    out.mkdir(parents=True, exist_ok=True)
    net = _network()
    path = out / MODEL_FILE
    x = torch.zeros(INPUT_SHAPE)
    torch.onnx.export(net, (x,), str(path), input_names=["image"], output_names=["probs"], opset_version=17, dynamo=False)
    rng = np.random.default_rng(SEED)
    np.savez(out / CALIB_FILE, image=rng.normal(size=(32, *INPUT_SHAPE)).astype(np.float32))
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    args = ap.parse_args(argv)
    path = build_model(args.out)
    print(f"wrote {path} and {args.out / CALIB_FILE}")
    return 0


if __name__ == "__main__":
    if __package__ in (None, ""):
        sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    sys.exit(main())
