"""Generated C on the host: compiles with -std=c99 -Wall -Wextra -Werror under ASan/UBSan, bit-exact with the oracle."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from cmsis_graphs import Builder, activations, cnn, mlp, two_io
from cmsis_helpers import check_against_oracle, needs_gcc, samples

from tinyc.backends.cmsis_nn.harness import BuildInfo, build_host, run_harness
from tinyc.errors import TinycError, UnsupportedOpError
from tinyc.ir.dtypes import DType
from tinyc.ir.types import QuantParams, TensorType

pytestmark = needs_gcc


@pytest.mark.parametrize("factory", [mlp, cnn, activations, two_io], ids=["mlp", "cnn", "activations", "two_io"])
def test_bit_exact_on_host_with_sanitizers(factory, compiled, tmp_path: Path) -> None:
    art = compiled(factory(), factory.__name__)
    info = BuildInfo.read(art.output_dir)
    exe = build_host(art.output_dir, tmp_path / "work", sanitize=True, opt="-O1")
    xs, fxs = samples(info, 12, seed=3)
    res = run_harness(exe, info, tmp_path / "work", xs, fxs)
    check_against_oracle(factory, res, xs, fxs)


def test_extreme_inputs_saturate_like_the_reference(compiled, tmp_path: Path) -> None:
    """Floats far outside the input range, exact .5 ties and NaN-free edge values quantize as QuantizeLinear."""
    art = compiled(mlp(), "mlp")
    info = BuildInfo.read(art.output_dir)
    exe = build_host(art.output_dir, tmp_path / "w", sanitize=True, opt="-O1")
    scale = info.inputs[0]["scale"]
    edge = np.array([1e9, -1e9, 0.0, -0.0, 2.5 * scale, -2.5 * scale, 3.5 * scale, 127.49 * scale, -1e-30, 6.4, -6.45] * 5, dtype=np.float32)[:48]
    fxs = [np.stack([edge, -edge]).reshape(2, 1, 48)]
    xs = [np.stack([np.full((1, 48), -128), np.full((1, 48), 127)]).astype(np.int8)]
    res = run_harness(exe, info, tmp_path / "w", xs, fxs)
    check_against_oracle(mlp, res, xs, fxs)


def test_odd_model_names_become_valid_c(compiled, tmp_path: Path) -> None:
    """Names with punctuation, C keywords, leading digits and comment terminators compile cleanly."""
    b = Builder("weird", seed=5)
    x = b.float_input("serving_default:input/0", (1, 8))
    h = b.fc(x, 6, act=(0.0, None), name="int")
    h = b.fc(h, 6, name="1st*/layer")
    h = b.fc(h, 4, name="1st*/layer.")  # sanitises to the same identifier: needs a suffix
    b.float_output(h, "out:0 */")
    art = compiled(b.g, "3-weird model")
    info = BuildInfo.read(art.output_dir)
    assert info.prefix == "model_3_weird_model"
    text = (art.output_dir / f"{info.prefix}.c").read_text()
    assert "1st*/" not in text
    exe = build_host(art.output_dir, tmp_path / "w", sanitize=True, opt="-O1")
    xs, fxs = samples(info, 3, seed=1)
    res = run_harness(exe, info, tmp_path / "w", xs, fxs)
    assert res.outputs[0].shape == (3, 1, 4)


def test_float_edge_without_quantize_is_refused_by_name() -> None:
    from tinyc.backends.cmsis_nn.io_boundary import strip_io_quantization
    from tinyc.ir.opdef import get_op
    from tinyc.passes.manager import run_passes

    b = Builder("f", seed=0)
    x = b.g.add_input("x", TensorType(DType.F32, (1, 4)))
    y = b.g.add_node(get_op("Relu"), [x], name="float_relu").output
    b.g.outputs.append(y)
    with pytest.raises(TinycError, match="float input 'x' is read by Relu 'float_relu'"):
        run_passes(b.g, [strip_io_quantization])


def test_unsupported_op_names_node_and_the_supported_ops() -> None:
    from tinyc.backends.cmsis_nn import generate
    from tinyc.backends.cmsis_nn.io_boundary import strip_io_quantization
    from tinyc.ir.opdef import get_op
    from tinyc.passes.manager import run_passes
    from tinyc.targets import load_target

    b = Builder("t", seed=0)
    x = b.float_input("x", (1, 2, 3, 4))
    o = get_op("Abs")
    t = b.g.add_node(o, [x], name="my_abs", output_types=[TensorType(DType.I8, (1, 2, 3, 4), x.type.quant)]).output
    b.float_output(t, "y")
    g, _ = run_passes(b.g, [strip_io_quantization])
    with pytest.raises(UnsupportedOpError, match="my_abs") as exc:
        generate(g, load_target("stm32h7"), "t")
    assert "supported i8 ops: " in str(exc.value) and "Conv2D" in str(exc.value) and "Transpose" in str(exc.value)


def test_broadcasting_add_is_refused_and_nothing_is_written(compiled, tmp_path: Path) -> None:
    """Broadcasting compiles (layers_extra) up to four merged axes; six alternating ones are refused."""
    b = Builder("bc", seed=0)
    x = b.float_input("x", (2, 1, 2, 1, 2, 1))
    c = b.g.add_const("c", np.ones((1, 2, 1, 2, 1, 2), np.int8), QuantParams.per_tensor(0.1, 0))
    y = b.node("AddAct", [x, c], b.act_type((2, 2, 2, 2, 2, 2)), "badd")
    b.float_output(y, "y")
    with pytest.raises(UnsupportedOpError, match="broadcasting"):
        compiled(b.g, "bc")
    assert not (tmp_path / "bc_build").exists()
    assert not list(tmp_path.glob(".bc_build*"))


def test_model_too_big_for_target_fails_without_output(compiled, tmp_path: Path) -> None:
    b = Builder("big", seed=0)
    x = b.float_input("x", (1, 4096))
    b.float_output(b.fc(x, 512, name="huge"), "y")
    with pytest.raises(TinycError):
        compiled(b.g, "big", target=str(_tiny_target(tmp_path)))
    assert not (tmp_path / "big_build").exists()


def _tiny_target(tmp_path: Path) -> Path:
    text = """
name = "tiny-m7"
[cpu]
core = "cortex-m7"
[backend]
name = "cmsis_nn"
[[memory]]
name = "FLASH"
base = 0x0
size = "64K"
kind = "flash"
speed = 2
section = ".rodata"
[[memory]]
name = "SRAM"
base = 0x20000000
size = "64K"
kind = "ram"
speed = 0
section = ".bss"
[defaults]
weights = ["FLASH"]
activations = ["SRAM"]
"""
    p = tmp_path / "tiny-m7.toml"
    p.write_text(text)
    return p


def test_weights_in_external_ram_are_copied_in_by_init(compiled, tmp_path: Path) -> None:
    """A flash too small for the weights: the planner puts some in EXT_RAM; <name>_init() copies their flash image."""
    target = tmp_path / "small-flash-m7.toml"
    target.write_text(
        _tiny_target(tmp_path).read_text().replace('size = "64K"\nkind = "flash"', 'size = "64K"\nreserved = "61K"\nkind = "flash"')
        + '[[memory]]\nname = "EXT_RAM"\nbase = 0x60000000\nsize = "1M"\nkind = "ram"\nspeed = 3\nsection = ".extram_bss"\n'
    )
    text = target.read_text().replace('weights = ["FLASH"]', 'weights = ["FLASH", "EXT_RAM"]').replace('name = "tiny-m7"', 'name = "small-flash-m7"')
    target.write_text(text)
    art = compiled(mlp(), "mlp", target=str(target))
    weights = (art.output_dir / "mlp_weights.c").read_text()
    assert 'TINYC_SECTION(".extram_bss"); /* filled by mlp_init() */' in weights
    assert "memcpy(" in (art.output_dir / "mlp.c").read_text().split("mlp_init(void)")[1].split("}")[0]
    regions = json.loads((art.output_dir / "report.json").read_text())["regions"]
    assert regions["EXT_RAM"]["constants"] > 0
    for name, r in regions.items():  # requantization tables are planned with their weights
        assert r["constants"] + r["arena"] <= r["capacity"], name
    info = BuildInfo.read(art.output_dir)
    exe = build_host(art.output_dir, tmp_path / "w", sanitize=True, opt="-O1")
    xs, fxs = samples(info, 4, seed=9)
    res = run_harness(exe, info, tmp_path / "w", xs, fxs)
    check_against_oracle(mlp, res, xs, fxs)
