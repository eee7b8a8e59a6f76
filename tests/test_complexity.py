"""The MAC counter on known layers, and the `lgmpose complexity` command."""
from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from lgmpose.benchmarks.flops import count_complexity
from lgmpose.cli import main
from lgmpose.errors import LgmposeError
from lgmpose.utils.sizes import format_size, parse_size


class _Known(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False)  # 8*16*12 * 3*9
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8)                  # 8*16*12 * 9
        self.up = nn.ConvTranspose2d(8, 4, 2, stride=2)                     # 8*16*12 * 4*4
        self.fc = nn.Linear(24, 10)                                         # 4*32*10 * 24
        self.w = nn.Parameter(torch.ones(5, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.fc(self.up(self.dw(self.conv(x))))                        # [1, 4, 32, 10]
        return self.w @ y.flatten(2)                                        # 5*320 * 4


def test_counts_known_layers():
    c = count_complexity(_Known(), (32, 24))
    expected = 1536 * 27 + 1536 * 9 + 1536 * 16 + 1280 * 24 + 1600 * 4
    assert c.macs == expected
    assert c.flops == 2 * expected
    assert c.params == sum(p.numel() for p in _Known().parameters())


def test_complexity_cli_json(capsys):
    assert main(["complexity", "lgm_pose", "--input-size", "256x192", "--json"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["model"] == "lgm_pose" and row["input_size"] == [256, 192]
    assert row["flops"] == 2 * row["macs"] and 0 < row["params"] <= 1.1e6


def test_complexity_cli_text(capsys):
    assert main(["complexity", "lite_hrnet_18", "--num-keypoints", "16"]) == 0
    out = capsys.readouterr().out
    assert "parameters" in out and "MACs" in out and "FLOPs" in out and "2 x MACs" in out


def test_complexity_cli_errors(capsys):
    assert main(["complexity", "nope"]) == 2
    assert "unknown model 'nope'" in capsys.readouterr().err


def test_parse_size():
    assert parse_size("256x192") == (256, 192) and parse_size("384X288") == (384, 288)
    assert parse_size((256, 256)) == (256, 256) and format_size((256, 192)) == "256x192"
    for bad in ("256", "axb", "0x192", "256x192x3"):
        with pytest.raises(LgmposeError):
            parse_size(bad)
