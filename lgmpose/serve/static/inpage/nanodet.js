// The NanoDet-m 416 person detector, as lgmpose.detectors.nanodet runs it: letterbox resize to
// 416x416 (BGR, NanoDet's mean/std), GFL head decoding, threshold, NMS, clip to the image.

import { roundHalfEven } from "./geometry.js";
import { resizeLinear } from "./imaging.js";

const f32 = Math.fround;
export const INPUT = 416;
const STRIDES = [8, 16, 32];
const MEAN_BGR = [103.53, 116.28, 123.675];
const STD_BGR = [57.375, 57.12, 58.395];

// RGBA image -> {blob: Float32Array [1, 3, 416, 416] BGR, geometry: [sx, sy, px, py]}.
export function preprocess(image) {
  const { width: w, height: h } = image;
  const ratio = INPUT / Math.max(h, w);
  const nw = Math.max(1, roundHalfEven(w * ratio)), nh = Math.max(1, roundHalfEven(h * ratio));
  const px = (INPUT - nw) >> 1, py = (INPUT - nh) >> 1;
  const resized = resizeLinear(image, nw, nh);
  const n = INPUT * INPUT;
  const blob = new Float32Array(3 * n);
  for (let c = 0; c < 3; c++) {
    const mean = f32(MEAN_BGR[c]), std = f32(STD_BGR[c]), rgba = 2 - c, plane = c * n;
    blob.fill(f32(f32(0 - mean) / std), plane, plane + n);
    for (let y = 0; y < nh; y++) {
      const src = y * nw * 4, dst = plane + (y + py) * INPUT + px;
      for (let x = 0; x < nw; x++) blob[dst + x] = f32(resized.data[src + x * 4 + rgba] - mean) / std;
    }
  }
  return { blob, geometry: [f32(nw / w), f32(nh / h), px, py] };
}

// The six outputs (ORT tensors) -> person boxes xyxy (input pixels) and scores of every location.
export function decode(outputs) {
  const tensors = Object.values(outputs);
  const byRows = (a, b) => b.dims[1] - a.dims[1];
  const scores = tensors.filter((t) => t.dims[2] === 80).sort(byRows);
  const dists = tensors.filter((t) => t.dims[2] !== 80).sort(byRows);
  const boxes = [], person = [];
  scores.forEach((s, level) => {
    const stride = STRIDES[level], d = dists[level];
    const gw = Math.ceil(INPUT / stride);
    const bins = d.dims[2] / 4;
    const sd = s.data, dd = d.data;
    for (let i = 0; i < s.dims[1]; i++) {
      const cx = f32(((i % gw) + 0.5) * stride), cy = f32((Math.floor(i / gw) + 0.5) * stride);
      const side = [0, 0, 0, 0];
      for (let e = 0; e < 4; e++) {
        const base = i * 4 * bins + e * bins;
        let max = -Infinity;
        for (let b = 0; b < bins; b++) max = Math.max(max, dd[base + b]);
        let total = 0, expect = 0;
        for (let b = 0; b < bins; b++) {
          const p = Math.exp(f32(dd[base + b] - max));
          total += p; expect += p * b;
        }
        side[e] = f32(f32(expect / total) * stride);
      }
      boxes.push([f32(cx - side[0]), f32(cy - side[1]), f32(cx + side[2]), f32(cy + side[3])]);
      person.push(sd[i * 80]);
    }
  });
  return { boxes, scores: person };
}

export function iou(a, b) {
  const w = Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0]));
  const h = Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
  const inter = w * h;
  const union = Math.max(0, a[2] - a[0]) * Math.max(0, a[3] - a[1]) +
    Math.max(0, b[2] - b[0]) * Math.max(0, b[3] - b[1]) - inter;
  return union > 0 ? inter / Math.max(union, 1e-9) : 0;
}

// Greedy NMS, best score first (a stable sort, as NumPy's); kept indices.
export function nms(boxes, scores, iouThr, maxDet = 100) {
  let order = scores.map((s, i) => i).sort((i, j) => scores[j] - scores[i] || i - j);
  const keep = [];
  while (order.length && keep.length < maxDet) {
    const best = order[0];
    keep.push(best);
    order = order.slice(1).filter((i) => iou(boxes[best], boxes[i]) <= iouThr);
  }
  return keep;
}

// Raw outputs -> {boxes: [[x, y, w, h]] image pixels, scores}, best first, at most maxPeople.
export function postprocess(outputs, geometry, width, height,
                            { detThr = 0.3, iouThr = 0.6, maxPeople = 100 } = {}) {
  const [sx, sy, px, py] = geometry;
  const raw = decode(outputs);
  const boxes = [], scores = [];
  raw.scores.forEach((s, i) => {
    if (s < detThr) return;
    const b = raw.boxes[i];
    boxes.push([f32(f32(b[0] - px) / sx), f32(f32(b[1] - py) / sy),
                f32(f32(b[2] - px) / sx), f32(f32(b[3] - py) / sy)]);
    scores.push(s);
  });
  const out = { boxes: [], scores: [] };
  for (const i of nms(boxes, scores, iouThr)) {
    const [x1, y1, x2, y2] = boxes[i];
    const cx1 = Math.min(Math.max(x1, 0), width), cx2 = Math.min(Math.max(x2, 0), width);
    const cy1 = Math.min(Math.max(y1, 0), height), cy2 = Math.min(Math.max(y2, 0), height);
    const box = [cx1, cy1, f32(cx2 - cx1), f32(cy2 - cy1)];
    if (box[2] > 1 && box[3] > 1) { out.boxes.push(box); out.scores.push(scores[i]); }
  }
  out.boxes = out.boxes.slice(0, maxPeople);
  out.scores = out.scores.slice(0, maxPeople);
  return out;
}
