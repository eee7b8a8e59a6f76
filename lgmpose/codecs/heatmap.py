"""Gaussian heatmap codecs: MSRA (SimpleBaseline/HRNet), DARK (Zhang et al., CVPR 2020) and UDP
(Huang et al., CVPR 2020).

All three take keypoints in *input-crop pixels* (the ``input_size`` crop made by
:func:`lgmpose.data.transforms.get_affine_transform`) and give them back in the same frame.

=======  =====================================  ===========================  ==========================
name     input pixel -> heatmap pixel            target Gaussian centre       decoding
=======  =====================================  ===========================  ==========================
msra     ``x / stride`` (stride = W / w)         rounded to the heatmap grid  argmax + quarter offset
dark     ``x / stride``                          exact (sub-pixel)            argmax + DARK refinement
udp      ``x * (w - 1) / (W - 1)``               exact (sub-pixel)            argmax + DARK refinement
=======  =====================================  ===========================  ==========================

``udp`` must be paired with the unbiased warp (``get_affine_transform(..., udp=True)``); the codec's
``udp`` attribute says which warp to use. UDP already decodes with DARK's Taylor refinement, so
"UDP + DARK" is simply ``udp`` (pass ``refine="quarter"`` for the plain variant).
"""
from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from lgmpose.defaults import CODEC, CODEC_SIGMA, INPUT_SIZE, derived_heatmap_size
from lgmpose.errors import LgmposeError

__all__ = ["HeatmapCodec", "MSRAHeatmap", "DarkHeatmap", "UDPHeatmap", "CODECS", "build_codec",
           "needs_udp_warp", "flip_heatmaps", "refine_dark", "refine_quarter", "heatmap_maximum"]


def heatmap_maximum(heatmaps: np.ndarray):
    """``[N, h, w]`` -> integer ``(x, y)`` of each maximum ``[N, 2]`` and its value ``[N]``."""
    n, h, w = heatmaps.shape
    flat = heatmaps.reshape(n, h * w)
    index = flat.argmax(axis=1)
    values = flat[np.arange(n), index]
    coords = np.stack([index % w, index // w], axis=1).astype(np.float32)
    return coords, values.astype(np.float32)


def refine_quarter(heatmaps: np.ndarray, coords: np.ndarray) -> np.ndarray:
    """SimpleBaseline's refinement: move a quarter pixel towards the higher neighbour."""
    n, h, w = heatmaps.shape
    out = coords.copy()
    x, y = coords[:, 0].astype(np.int64), coords[:, 1].astype(np.int64)
    inside = (x > 0) & (x < w - 1) & (y > 0) & (y < h - 1)
    i = np.nonzero(inside)[0]
    xi, yi = x[i], y[i]
    dx = heatmaps[i, yi, xi + 1] - heatmaps[i, yi, xi - 1]
    dy = heatmaps[i, yi + 1, xi] - heatmaps[i, yi - 1, xi]
    out[i, 0] += 0.25 * np.sign(dx)
    out[i, 1] += 0.25 * np.sign(dy)
    return out


def _blur_kernel_size(sigma: float) -> int:
    # OpenCV's rule sigma = 0.3 * ((k - 1) / 2 - 1) + 0.8, solved for k (11 for sigma 2).
    k = int(round(((sigma - 0.8) / 0.3 + 1.0) * 2.0 + 1.0))
    return max(3, k | 1)


def _extend_log(logs: np.ndarray, pad: int, axis: int, ceiling: np.ndarray) -> np.ndarray:
    """Pad ``logs[N, ...]`` by ``pad`` on both ends of ``axis``, continuing the quadratic through the
    three outermost values (exact for a Gaussian cut off by the map's border), capped at ``ceiling``."""
    steps = np.arange(1, pad + 1, dtype=np.float32)
    shape = [1] * logs.ndim
    shape[axis] = pad
    d = steps.reshape(shape)
    sides = []
    for first, second, third in ((0, 1, 2), (-1, -2, -3)):
        take = lambda i: np.take(logs, [i], axis=axis)
        l0, l1, l2 = take(first), take(second), take(third)
        ext = l0 + d * (l0 - l1) + d * (d + 1) * 0.5 * (l0 - 2 * l1 + l2)
        sides.append(np.minimum(ext, ceiling))
    before = np.flip(sides[0], axis=axis)
    return np.concatenate([before, logs, sides[1]], axis=axis)


def refine_dark(heatmaps: np.ndarray, coords: np.ndarray, sigma: float) -> np.ndarray:
    """DARK: smooth each heatmap with a Gaussian, then one Newton step on its logarithm.

    ``coords`` are the integer maxima; returns sub-pixel coordinates. The log turns a Gaussian into
    a quadratic whose peak the Newton step finds exactly; steps over one pixel (a map that is not
    Gaussian near its peak) are clipped. Unlike the usual zero padding, the map is extended past its
    border along its own (log-quadratic) shape before blurring, so peaks near the border of the
    crop, where a person's head and feet lie, are not pulled inwards.
    """
    n, h, w = heatmaps.shape
    out = coords.astype(np.float32).copy()
    if n == 0 or h < 3 or w < 3:
        return out
    i = np.arange(n)
    k = _blur_kernel_size(sigma)
    pad = k // 2
    maps = np.maximum(np.asarray(heatmaps[i], dtype=np.float32), 1e-10)
    logs = np.log(maps)
    ceiling = logs.reshape(len(i), -1).max(axis=1)[:, None, None]
    logs = _extend_log(_extend_log(logs, pad, 2, ceiling), pad, 1, ceiling)
    # Relative to each map's peak (a constant shift of the log changes no derivative).
    padded = np.exp(logs - ceiling).astype(np.float32)
    logs = np.empty_like(padded)
    for j in range(len(i)):
        blurred = cv2.GaussianBlur(padded[j], (k, k), sigma, borderType=cv2.BORDER_CONSTANT)
        logs[j] = np.log(np.maximum(blurred, 1e-10))
    # The extension also gives the neighbours of a maximum on the border row or column.
    j = i
    xi, yi = coords[:, 0].astype(np.int64) + pad, coords[:, 1].astype(np.int64) + pad
    c = logs[j, yi, xi]
    r, l = logs[j, yi, xi + 1], logs[j, yi, xi - 1]
    d, u = logs[j, yi + 1, xi], logs[j, yi - 1, xi]
    dx, dy = 0.5 * (r - l), 0.5 * (d - u)
    dxx, dyy = r - 2 * c + l, d - 2 * c + u
    dxy = 0.25 * (logs[j, yi + 1, xi + 1] - logs[j, yi + 1, xi - 1]
                  - logs[j, yi - 1, xi + 1] + logs[j, yi - 1, xi - 1])
    det = dxx * dyy - dxy * dxy
    ok = (det > 1e-12) & (dxx < 0)  # a maximum: the Hessian is negative definite
    safe = np.where(ok, det, 1.0)
    off_x = -(dyy * dx - dxy * dy) / safe
    off_y = -(dxx * dy - dxy * dx) / safe
    off = np.clip(np.stack([off_x, off_y], axis=1), -1.0, 1.0)
    out[i] += np.where(ok[:, None], off, 0.0).astype(np.float32)
    return out


def flip_heatmaps(heatmaps: np.ndarray, flip_indices: Sequence[int], shift: bool = True) -> np.ndarray:
    """Turn the heatmaps of a horizontally flipped crop back into the frame of the original crop.

    Mirrors the last axis and swaps left/right channels (``flip_indices``). ``shift=True`` moves the
    result one heatmap pixel right, the usual correction for the biased (msra/dark) coordinate
    mapping; the udp mapping needs none. Works on ``[..., K, h, w]``.
    """
    index = np.asarray(flip_indices, dtype=np.int64)
    flipped = np.asarray(heatmaps)[..., index, :, ::-1]
    if shift:
        flipped = np.concatenate([flipped[..., :1], flipped[..., :-1]], axis=-1)
    return np.ascontiguousarray(flipped)


class HeatmapCodec:
    """Base class. ``input_size`` and ``heatmap_size`` are ``(H, W)``; ``sigma`` in heatmap pixels."""

    name = "base"
    udp = False          # which affine warp the data pipeline must use
    unbiased = True      # Gaussian centred at the exact (sub-pixel) position
    flip_shift = True    # flip_heatmaps needs the one-pixel shift

    def __init__(self, input_size=INPUT_SIZE, heatmap_size=None, sigma: float = CODEC_SIGMA,
                 refine: str | None = None):
        self.input_size = tuple(int(v) for v in input_size)
        if heatmap_size is None:
            heatmap_size = derived_heatmap_size(self.input_size)
        self.heatmap_size = tuple(int(v) for v in heatmap_size)
        if len(self.input_size) != 2 or len(self.heatmap_size) != 2 or min(self.heatmap_size) < 2:
            raise LgmposeError(f"codec {self.name!r}: sizes must be (H, W), got input_size="
                               f"{input_size!r}, heatmap_size={heatmap_size!r}")
        if not sigma > 0:
            raise LgmposeError(f"codec {self.name!r}: sigma must be positive, got {sigma!r}")
        self.sigma = float(sigma)
        self.refine = refine or self.default_refine
        if self.refine not in ("quarter", "dark"):
            raise LgmposeError(f"codec {self.name!r}: refine must be 'quarter' or 'dark', got {refine!r}")
        h_in, w_in = self.input_size
        h, w = self.heatmap_size
        self._to_heatmap = self._heatmap_factor(h_in, w_in, h, w)  # (fx, fy)

    default_refine = "dark"

    def _heatmap_factor(self, h_in, w_in, h, w):
        return np.array([w / w_in, h / h_in], dtype=np.float64)

    def config(self) -> dict:
        return {"name": self.name, "input_size": list(self.input_size),
                "heatmap_size": list(self.heatmap_size), "sigma": self.sigma, "refine": self.refine}

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(input_size={self.input_size}, heatmap_size={self.heatmap_size}, "
                f"sigma={self.sigma}, refine={self.refine!r})")

    # -- coordinates -------------------------------------------------------------------------
    def to_heatmap(self, keypoints) -> np.ndarray:
        return np.asarray(keypoints, dtype=np.float64) * self._to_heatmap

    def to_input(self, keypoints) -> np.ndarray:
        return (np.asarray(keypoints, dtype=np.float64) / self._to_heatmap).astype(np.float32)

    # -- encode ------------------------------------------------------------------------------
    def encode(self, keypoints, visible):
        """``keypoints[K, 2]`` in input-crop pixels, ``visible[K]`` -> ``heatmaps[K, h, w]``, ``target_weight[K]``.

        A keypoint gets weight 0 (and an empty map) when it is not visible or its Gaussian's
        3-sigma square lies entirely outside the heatmap.
        """
        keypoints = np.asarray(keypoints, dtype=np.float64).reshape(-1, 2)
        visible = np.asarray(visible).reshape(-1)
        k = keypoints.shape[0]
        h, w = self.heatmap_size
        heatmaps = np.zeros((k, h, w), dtype=np.float32)
        weights = np.zeros(k, dtype=np.float32)
        centers = self.to_heatmap(keypoints)
        if not self.unbiased:
            centers = np.floor(centers + 0.5)
        radius = 3.0 * self.sigma
        xs = np.arange(w, dtype=np.float64)
        ys = np.arange(h, dtype=np.float64)
        for j in range(k):
            mx, my = centers[j]
            if not (visible[j] > 0) or not np.isfinite(mx) or not np.isfinite(my):
                continue
            if mx - radius >= w or my - radius >= h or mx + radius + 1 < 0 or my + radius + 1 < 0:
                continue
            gx = np.exp(-((xs - mx) ** 2) / (2 * self.sigma ** 2))
            gy = np.exp(-((ys - my) ** 2) / (2 * self.sigma ** 2))
            if not self.unbiased:
                # MSRA's target: a (6 sigma + 1)-pixel square patch around the rounded centre.
                gx[np.abs(xs - mx) > radius] = 0.0
                gy[np.abs(ys - my) > radius] = 0.0
            heatmaps[j] = np.outer(gy, gx)
            weights[j] = 1.0
        return heatmaps, weights

    # -- decode ------------------------------------------------------------------------------
    def decode(self, heatmaps):
        """``heatmaps[B, K, h, w]`` -> ``keypoints[B, K, 2]`` in input-crop pixels, ``scores[B, K]``.

        A ``[K, h, w]`` array gives ``[K, 2]`` and ``[K]``. The score is the heatmap maximum.
        """
        heatmaps = np.asarray(heatmaps, dtype=np.float32)
        single = heatmaps.ndim == 3
        if single:
            heatmaps = heatmaps[None]
        if heatmaps.ndim != 4:
            raise LgmposeError(f"codec {self.name!r}: heatmaps must be [B, K, h, w], got shape "
                               f"{heatmaps.shape}")
        b, k, h, w = heatmaps.shape
        if (h, w) != tuple(self.heatmap_size):
            raise LgmposeError(f"codec {self.name!r}: heatmaps are {h}x{w} but the codec was built "
                               f"for {self.heatmap_size[0]}x{self.heatmap_size[1]}")
        flat = heatmaps.reshape(b * k, h, w)
        coords, scores = heatmap_maximum(flat)
        if self.refine == "dark":
            coords = refine_dark(flat, coords, self.sigma)
        else:
            coords = refine_quarter(flat, coords)
        keypoints = self.to_input(coords).reshape(b, k, 2)
        scores = scores.reshape(b, k)
        return (keypoints[0], scores[0]) if single else (keypoints, scores)

    def flip_heatmaps(self, heatmaps, flip_indices: Sequence[int]) -> np.ndarray:
        """Heatmaps of the flipped crop back in the original crop's frame (see :func:`flip_heatmaps`)."""
        return flip_heatmaps(heatmaps, flip_indices, shift=self.flip_shift)

    def flip_test(self, heatmaps, flipped_heatmaps, flip_indices: Sequence[int],
                  shift: bool = True) -> np.ndarray:
        """Flip test: the mean of the crop's heatmaps and those of its mirror, flipped back.

        ``shift=False`` turns off the one-pixel correction even where the codec uses it.
        """
        back = flip_heatmaps(flipped_heatmaps, flip_indices, shift=shift and self.flip_shift)
        return (np.asarray(heatmaps, dtype=np.float32) + back) * 0.5


class MSRAHeatmap(HeatmapCodec):
    """SimpleBaseline/HRNet: Gaussian at the rounded heatmap position; argmax + quarter offset."""

    name = "msra"
    unbiased = False
    default_refine = "quarter"


class DarkHeatmap(HeatmapCodec):
    """MSRA's coordinate mapping with DARK's unbiased target and distribution-aware decoding."""

    name = "dark"
    default_refine = "dark"


class UDPHeatmap(HeatmapCodec):
    """Unbiased data processing: ``(W - 1) / (w - 1)`` mapping, the unbiased warp, no flip shift."""

    name = "udp"
    udp = True
    flip_shift = False
    default_refine = "dark"

    def _heatmap_factor(self, h_in, w_in, h, w):
        return np.array([(w - 1) / (w_in - 1), (h - 1) / (h_in - 1)], dtype=np.float64)


CODECS = {"msra": MSRAHeatmap, "dark": DarkHeatmap, "udp": UDPHeatmap}


def build_codec(name: str = CODEC, input_size=INPUT_SIZE, heatmap_size=None,
                sigma: float = CODEC_SIGMA, **options) -> HeatmapCodec:
    """``msra`` | ``dark`` | ``udp`` (or a dict with ``name`` and the arguments, e.g. from a config).

    ``heatmap_size`` defaults to ``input_size`` // :data:`lgmpose.defaults.HEATMAP_STRIDE`.
    """
    if isinstance(name, dict):
        spec = dict(name)
        name = spec.pop("name", spec.pop("type", CODEC))
        return build_codec(name, **spec)
    if isinstance(name, HeatmapCodec):
        return name
    try:
        cls = CODECS[str(name).lower()]
    except KeyError:
        raise LgmposeError(f"unknown codec {name!r}: choose one of {', '.join(CODECS)}") from None
    return cls(input_size=input_size, heatmap_size=heatmap_size, sigma=sigma, **options)


def needs_udp_warp(codec: "str | dict | HeatmapCodec | None") -> bool:
    """Whether crops for a model trained with ``codec`` (a codec, its name, or its config as a
    checkpoint or an export stores it; ``None``: the default ``msra``) take the UDP warp."""
    if isinstance(codec, HeatmapCodec):
        return bool(codec.udp)
    name = codec.get("name", CODEC) if isinstance(codec, dict) else (codec or CODEC)
    cls = CODECS.get(str(name).lower())
    return bool(cls is not None and cls.udp)
