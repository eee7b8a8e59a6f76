"""Heatmap codecs: one object encodes training targets and decodes predictions, so train and test
agree on every half pixel. NumPy/OpenCV only (the ONNX Runtime deployment path imports this)."""
from __future__ import annotations

from lgmpose.codecs.heatmap import (CODECS, DarkHeatmap, HeatmapCodec, MSRAHeatmap, UDPHeatmap,
                                    build_codec, flip_heatmaps, needs_udp_warp)

__all__ = ["CODECS", "HeatmapCodec", "MSRAHeatmap", "UDPHeatmap", "DarkHeatmap", "build_codec",
           "flip_heatmaps", "needs_udp_warp"]
