"""Datasets, metainfo and top-down transforms. Importing this package never imports torch."""
from __future__ import annotations

from lgmpose.data.metainfo import MetaInfo, load_metainfo

__all__ = ["MetaInfo", "load_metainfo", "CocoKeypointDataset", "MpiiDataset", "TopDownPipeline",
           "read_image"]


def __getattr__(name: str):
    if name == "CocoKeypointDataset":
        from lgmpose.data.coco import CocoKeypointDataset
        return CocoKeypointDataset
    if name == "MpiiDataset":
        from lgmpose.data.mpii import MpiiDataset
        return MpiiDataset
    if name == "TopDownPipeline":
        from lgmpose.data.pipeline import TopDownPipeline
        return TopDownPipeline
    if name == "read_image":
        from lgmpose.data.image_io import read_image
        return read_image
    raise AttributeError(f"module 'lgmpose.data' has no attribute {name!r}")
