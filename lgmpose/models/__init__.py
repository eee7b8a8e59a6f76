"""Pose networks: ``create_model(name, num_keypoints=17, input_size=(256, 192), **overrides)``;
checkpoint files that rebuild their own network: :mod:`lgmpose.models.checkpoint`."""
from lgmpose.models.registry import create_model, list_models, register_model

# The modules that define networks; importing them registers their variants.
from lgmpose.models import lgm_pose  # noqa: E402,F401
from lgmpose.models.baselines import lite_hrnet, mobilenetv2_sb  # noqa: E402,F401

__all__ = ["create_model", "list_models", "register_model"]
