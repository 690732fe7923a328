"""PyTorch frontend: nn.Module -> ONNX (dynamo exporter) -> tinyc Graph, checked against PyTorch."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tinyc.errors import ModelLoadError  # noqa: E402
from tinyc.frontends.torch import export_onnx, from_module, torch_location  # noqa: E402
from tinyc.interpreter import run_graph  # noqa: E402
from tinyc.ir import verify  # noqa: E402

THIS_FILE = Path(__file__).name


def _check(module: torch.nn.Module, *inputs: torch.Tensor, **kwargs) -> object:
    """Import ``module`` and compare tinyc's reference interpreter with PyTorch (eval mode)."""
    graph = from_module(module, inputs, **kwargs)
    verify(graph)
    module.eval()
    with torch.no_grad():
        want = module(*inputs)
    want = [want] if isinstance(want, torch.Tensor) else list(want)
    feeds = {v.name: t.numpy() for v, t in zip(graph.inputs, inputs, strict=True)}
    got = run_graph(graph, feeds)
    assert len(got) == len(want)
    for out, expected in zip(graph.outputs, want, strict=True):
        np.testing.assert_allclose(got[out.name], expected.numpy(), rtol=1e-4, atol=1e-4)
    return graph


class SmallCNN(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(8)
        self.pool = torch.nn.MaxPool2d(2)
        self.fc = torch.nn.Linear(8 * 4 * 4, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.bn(self.conv(x)))
        return self.fc(torch.flatten(self.pool(y), 1))


class Residual(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = torch.nn.Linear(16, 16)
        self.fc2 = torch.nn.Linear(16, 16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.fc1(x))
        return torch.relu(x + self.fc2(h))  # the residual add


def _with_running_stats(cnn: SmallCNN) -> SmallCNN:
    """Give BatchNorm non-trivial statistics and affine parameters."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        cnn.bn.running_mean.copy_(torch.randn(8, generator=g) * 0.5)
        cnn.bn.running_var.copy_(torch.rand(8, generator=g) + 0.5)
        cnn.bn.weight.copy_(torch.rand(8, generator=g) + 0.5)
        cnn.bn.bias.copy_(torch.randn(8, generator=g) * 0.1)
    return cnn


def test_mlp_matches_pytorch_and_keeps_names() -> None:
    torch.manual_seed(0)
    mlp = torch.nn.Sequential(
        torch.nn.Linear(48, 50), torch.nn.ReLU(), torch.nn.Linear(50, 50), torch.nn.ReLU(), torch.nn.Linear(50, 3)
    )
    graph = _check(mlp, torch.randn(1, 48), input_names=["magnetometers"], output_names=["position"])
    assert [v.name for v in graph.inputs] == ["magnetometers"]
    assert [v.name for v in graph.outputs] == ["position"]
    assert graph.inputs[0].shape == (1, 48)
    assert [n.op.name for n in graph] == ["Gemm", "Relu", "Gemm", "Relu", "Gemm"]
    # Locations carry the module path inside the Sequential and the traced call.
    assert [str(n.loc) for n in graph][:2] == ["0/linear", "1/relu"]


def test_cnn_with_batchnorm_matches_pytorch() -> None:
    torch.manual_seed(0)
    graph = _check(_with_running_stats(SmallCNN()), torch.randn(1, 3, 8, 8))
    ops = [n.op.name for n in graph]
    assert ops[0] == "Conv" and "MaxPool" in ops and ops[-1] == "Gemm"
    assert graph.name == "SmallCNN"


def test_cnn_unoptimized_keeps_batchnorm_node() -> None:
    torch.manual_seed(0)
    graph = _check(_with_running_stats(SmallCNN()), torch.randn(1, 3, 8, 8), optimize=False)
    by_op = {n.op.name: n for n in graph}
    assert "BatchNormalization" in by_op
    assert str(by_op["Conv"].loc).startswith("conv/conv2d")
    assert str(by_op["BatchNormalization"].loc).startswith("bn/")


def test_residual_add_matches_pytorch_and_points_at_user_code() -> None:
    torch.manual_seed(0)
    graph = _check(Residual(), torch.randn(1, 16))
    (add,) = [n for n in graph if n.op.name == "Add"]
    assert set(add.inputs) >= {graph.inputs[0]}
    text = str(add.loc)
    assert text.startswith("add") and THIS_FILE in text, text


def test_training_mode_module_is_exported_in_eval_mode_and_restored() -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.Dropout(0.5), torch.nn.ReLU())
    model.train()
    x = torch.randn(1, 8)
    graph = from_module(model, x)
    assert model.training  # put back
    model.eval()
    np.testing.assert_allclose(
        run_graph(graph, {graph.inputs[0].name: x.numpy()})[graph.outputs[0].name], model(x).detach().numpy(), atol=1e-5
    )


def test_numpy_example_inputs_are_accepted() -> None:
    torch.manual_seed(0)
    graph = from_module(torch.nn.Linear(4, 2), np.ones((1, 4), np.float32), opset=20)
    assert graph.inputs[0].shape == (1, 4)


class DataDependent(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum() > 0:  # torch.export cannot trace this; TorchScript records one branch
            return x * 2
        return x - 1


def test_falls_back_to_torchscript_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    x = torch.ones(1, 4)
    with caplog.at_level(logging.WARNING, logger="tinyc.frontends.torch"):
        _check(DataDependent(), x)
    messages = [r.getMessage() for r in caplog.records if r.name == "tinyc.frontends.torch"]
    assert any("falling back to the TorchScript exporter" in m and "DataDependent" in m for m in messages), messages


class Broken(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise ValueError("weights were never loaded")


def test_export_failure_is_a_model_load_error_naming_the_module() -> None:
    with pytest.raises(ModelLoadError) as info:
        from_module(Broken(), torch.ones(1, 4))
    text = str(info.value)
    assert "Broken" in text and "weights were never loaded" in text
    assert THIS_FILE in (info.value.where or "")
    assert "\n" not in info.value.what


def test_bad_arguments_are_model_load_errors() -> None:
    with pytest.raises(ModelLoadError, match="not a tensor"):
        from_module(torch.nn.Linear(4, 2), ([1.0, 2.0, 3.0, 4.0],))
    with pytest.raises(ModelLoadError, match="opset 13"):
        from_module(torch.nn.Linear(4, 2), torch.ones(1, 4), opset=13)
    with pytest.raises(ModelLoadError, match="torch.nn.Module"):
        export_onnx("model.pt", torch.ones(1, 4))  # type: ignore[arg-type]


def test_torch_location_from_metadata() -> None:
    meta = {
        "pkg.torch.onnx.name_scopes": "['', 'encoder', 'encoder.conv', 'conv2d']",
        "pkg.torch.onnx.stack_trace": (
            'File "/home/me/model.py", line 30, in forward\n    y = self.encoder(x)\n'
            'File "/home/me/blocks.py", line 12, in forward\n    return self.conv(x)\n'
            f'File "{Path(torch.__file__).parent}/nn/modules/conv.py", line 548, in forward\n    return F.conv2d(...)'
        ),
    }
    assert torch_location(meta) == "encoder.conv/conv2d (blocks.py:12)"
    assert torch_location({"pkg.torch.onnx.name_scopes": "['', 'view']"}) == "view"
    fused = {**meta, "pkg.onnxscript.rewriter.rule_name": "FuseBatchNormIntoConv"}
    assert torch_location(fused).endswith("[FuseBatchNormIntoConv]")
    assert torch_location({}) is None
    assert torch_location({"pkg.torch.onnx.name_scopes": "not a list ["}) is None
