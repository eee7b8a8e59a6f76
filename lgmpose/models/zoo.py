"""The registered variants. Each builder takes ``num_keypoints``, ``input_size`` and overrides."""
from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from lgmpose.models.baselines.lite_hrnet import LiteHRNetPose, lite_hrnet_spec
from lgmpose.models.baselines.mobilenetv2_sb import MobileNetV2SimpleBaseline
from lgmpose.models.lgm_pose import LGMPose
from lgmpose.models.registry import register_model


@register_model("lgm_pose")
def lgm_pose(num_keypoints: int, input_size: Sequence[int], **overrides) -> nn.Module:
    return LGMPose(num_keypoints, input_size, **overrides)


@register_model("lite_hrnet_18")
def lite_hrnet_18(num_keypoints: int, input_size: Sequence[int], **overrides) -> nn.Module:
    return LiteHRNetPose(num_keypoints, **{**lite_hrnet_spec(18), **overrides})


@register_model("lite_hrnet_30")
def lite_hrnet_30(num_keypoints: int, input_size: Sequence[int], **overrides) -> nn.Module:
    return LiteHRNetPose(num_keypoints, **{**lite_hrnet_spec(30), **overrides})


@register_model("mobilenetv2_sb")
def mobilenetv2_sb(num_keypoints: int, input_size: Sequence[int], **overrides) -> nn.Module:
    return MobileNetV2SimpleBaseline(num_keypoints, **overrides)
