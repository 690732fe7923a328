"""`tinyc analyze` / tinyc.analyze on the real MLPerf Tiny models against hand counts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import tinyc

# Hand count for the MLPerf Tiny KWS DS-CNN (input 49x10x1, NHWC):
#   conv 10x4, stride 2, pads (4,1,5,1), 1 -> 64 ch: output 25x5x64
#       MACs 25*5*64*(10*4*1) = 320,000      params 64*10*4 + 64 = 2,624
#   4 x depthwise 3x3 on 25x5x64:
#       MACs 25*5*64*9 = 72,000 each          params 64*9 + 64 = 640 each
#   4 x pointwise 1x1 64 -> 64 on 25x5:
#       MACs 25*5*64*64 = 512,000 each        params 64*64 + 64 = 4,160 each
#   average pool 25x5 -> 1x1x64: no MACs (pooling is counted as data movement)
#   dense 64 -> 12: MACs 768                  params 64*12 + 12 = 780
# Totals: MACs 320,000 + 4*72,000 + 4*512,000 + 768 = 2,656,768
#         params 2,624 + 4*640 + 4*4,160 + 780 = 22,604
KWS_MACS = 2_656_768
KWS_PARAMS = 22_604

# AD autoencoder (640 -> 128 x4 -> 8 -> 128 x4 -> 640, all dense + bias):
AD_LAYERS = [(640, 128), (128, 128), (128, 128), (128, 128), (128, 8), (8, 128), (128, 128), (128, 128), (128, 128), (128, 640)]
AD_MACS = sum(i * o for i, o in AD_LAYERS)
AD_PARAMS = sum(i * o + o for i, o in AD_LAYERS)


def test_kws_hand_count(kws_float: Path) -> None:
    a = tinyc.analyze(kws_float).layers
    assert a.total_macs == KWS_MACS
    assert a.total_params == KWS_PARAMS
    convs = [r for r in a.layers if r.op == "Conv"]
    assert len(convs) == 9
    assert convs[0].output_shapes == [[1, 64, 25, 5]]


def test_ad_hand_count(ad_float: Path) -> None:
    a = tinyc.analyze(ad_float).layers
    assert a.total_macs == AD_MACS
    assert a.total_params == AD_PARAMS


def test_cli_analyze_table_and_json(kws_float: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "tinyc.cli", "analyze", str(kws_float)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert f"{KWS_MACS:,}" in r.stdout and f"{KWS_PARAMS:,}" in r.stdout
    r = subprocess.run([sys.executable, "-m", "tinyc.cli", "analyze", str(kws_float), "--json"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["total_macs"] == KWS_MACS and data["total_params"] == KWS_PARAMS
