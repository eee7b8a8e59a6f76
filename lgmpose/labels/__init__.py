"""Pseudo-labels: a teacher pose model's keypoints merged with whatever ground truth exists."""
from lgmpose.labels.merge import (BODY_MARGINS, MergedLabel, box_from_keypoints, lr_agreement,
                                  merge_labels)

__all__ = ["BODY_MARGINS", "MergedLabel", "box_from_keypoints", "lr_agreement", "merge_labels"]
