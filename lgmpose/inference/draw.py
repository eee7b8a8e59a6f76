"""Drawing poses on images with the dataset's colours (OpenCV, BGR)."""
from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from lgmpose.defaults import KPT_THR

__all__ = ["draw_poses", "id_color"]


def id_color(track_id: int) -> tuple[int, int, int]:
    """A stable, well separated BGR colour per track id (golden-ratio hue steps)."""
    hue = int((track_id * 0.618033988749895 % 1.0) * 179)
    hsv = np.uint8([[[hue, 200, 255]]])
    b, g, r = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0]
    return int(b), int(g), int(r)


def draw_poses(image: np.ndarray, people: Sequence, metainfo, kpt_thr: float = KPT_THR,
               draw_boxes: bool = True, copy: bool = True) -> np.ndarray:
    """Skeletons, keypoints and boxes (with the track id on video) of ``people`` on ``image``.

    ``people`` holds :class:`~lgmpose.inference.estimator.Person` results; keypoints scoring below
    ``kpt_thr`` and the limbs touching them are not drawn. Line widths follow the image size.
    """
    canvas = image.copy() if copy else image
    h, w = canvas.shape[:2]
    unit = max(1, round(max(h, w) / 400))
    kpt_colors = [tuple(int(c) for c in reversed(rgb)) for rgb in metainfo.keypoint_colors]
    link_colors = [tuple(int(c) for c in reversed(rgb)) for rgb in metainfo.skeleton_colors]
    for person in people:
        kpts = np.rint(np.asarray(person.keypoints, np.float64)).astype(int).tolist()
        ok = np.asarray(person.scores) >= kpt_thr
        if draw_boxes:
            x, y, bw, bh = (int(round(v)) for v in person.box)
            color = id_color(person.track_id) if person.track_id is not None else (255, 255, 255)
            cv2.rectangle(canvas, (x, y), (x + bw, y + bh), color, unit, cv2.LINE_AA)
            if person.track_id is not None:
                label = f"id {person.track_id}"
                cv2.putText(canvas, label, (x + 2, max(y - 4, 12 * unit)), cv2.FONT_HERSHEY_SIMPLEX,
                            0.4 * unit, color, unit, cv2.LINE_AA)
        for (a, b), color in zip(metainfo.skeleton, link_colors):
            if ok[a] and ok[b]:
                cv2.line(canvas, kpts[a], kpts[b], color, 2 * unit, cv2.LINE_AA)
        for k, (pt, color) in enumerate(zip(kpts, kpt_colors)):
            if ok[k]:
                cv2.circle(canvas, pt, 2 * unit + 1, color, -1, cv2.LINE_AA)
    return canvas
