"""Pose networks: ``create_model(name, num_keypoints=17, input_size=(256, 192), **overrides)``."""
from lgmpose.models.registry import create_model, list_models, register_model

__all__ = ["create_model", "list_models", "register_model"]
