// The pixel operations of the Python pipeline, reproduced on RGBA images ({data, width, height},
// 4 bytes a pixel as canvases give them; channels are independent, so BGR vs RGB order does not
// matter here). Each follows OpenCV's own arithmetic (fixed-point warps and linear resizing, float
// area sums) so that crops and the detector's input equal OpenCV's, which is what keeps keypoints
// within 0.5 px and scores within 1e-3 of PoseEstimator's.

import { invertAffine, roundHalfEven } from "./geometry.js";

const f32 = Math.fround;

// Round half to even, as OpenCV's cvRound and SIMD conversions do (values here are >= 0).
function rint(v) {
  const r = Math.round(v);
  return v - Math.floor(v) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
const sat8 = (v) => (v <= 0 ? 0 : v >= 255 ? 255 : rint(v));

// cv2.warpAffine(src, M, (outW, outH), INTER_LINEAR, BORDER_CONSTANT, 0), M taking source to
// destination points. OpenCV inverts M in double precision, steps through the source in 1/1024
// pixel fixed point, rounds each position to 1/32 pixel, and blends the four neighbours with
// 15-bit integer weights; pixels outside the source count as 0. Checked bit for bit against
// the OpenCV that lgmpose installs (tests/test_serve_inpage.py).
export function warpAffine(src, matrix, outW, outH, out = null) {
  const m = invertAffine(matrix);
  const { data, width: sw, height: sh } = src;
  const dst = out || new Uint8ClampedArray(outW * outH * 4);
  const tap = (ix, iy, c) =>
    ix >= 0 && iy >= 0 && ix < sw && iy < sh ? data[(iy * sw + ix) * 4 + c] : 0;
  const adelta = new Int32Array(outW), bdelta = new Int32Array(outW);
  for (let x = 0; x < outW; x++) { adelta[x] = rint(m[0] * x * 1024); bdelta[x] = rint(m[3] * x * 1024); }
  for (let y = 0; y < outH; y++) {
    const X0 = rint((m[1] * y + m[2]) * 1024) + 16, Y0 = rint((m[4] * y + m[5]) * 1024) + 16;
    for (let x = 0; x < outW; x++) {
      const X = (X0 + adelta[x]) >> 5, Y = (Y0 + bdelta[x]) >> 5;
      const ix = X >> 5, iy = Y >> 5, ax = X & 31, ay = Y & 31;
      const w00 = (32 - ay) * (32 - ax) * 32, w01 = (32 - ay) * ax * 32;
      const w10 = ay * (32 - ax) * 32, w11 = ay * ax * 32;
      const o = (y * outW + x) * 4;
      dst[o + 3] = 255;
      if (ix >= 0 && iy >= 0 && ix + 1 < sw && iy + 1 < sh) {
        const p = (iy * sw + ix) * 4, q = p + sw * 4;
        for (let c = 0; c < 3; c++) {
          dst[o + c] = (data[p + c] * w00 + data[p + 4 + c] * w01 + data[q + c] * w10 +
                        data[q + 4 + c] * w11 + 16384) >> 15;
        }
      } else {
        for (let c = 0; c < 3; c++) {
          dst[o + c] = (tap(ix, iy, c) * w00 + tap(ix + 1, iy, c) * w01 + tap(ix, iy + 1, c) * w10 +
                        tap(ix + 1, iy + 1, c) * w11 + 16384) >> 15;
        }
      }
    }
  }
  return dst;
}

function areaTable(ssize, dsize, scale) {
  const table = [];   // [dst index, src index, weight]
  for (let dx = 0; dx < dsize; dx++) {
    const fsx1 = dx * scale, fsx2 = fsx1 + scale;
    const cell = Math.min(scale, ssize - fsx1);
    let sx1 = Math.ceil(fsx1), sx2 = Math.floor(fsx2);
    sx2 = Math.min(sx2, ssize - 1);
    sx1 = Math.min(sx1, sx2);
    if (sx1 - fsx1 > 1e-3) table.push([dx, sx1 - 1, f32((sx1 - fsx1) / cell)]);
    for (let sx = sx1; sx < sx2; sx++) table.push([dx, sx, f32(1.0 / cell)]);
    if (fsx2 - sx2 > 1e-3) {
      table.push([dx, sx2, f32(Math.min(Math.min(fsx2 - sx2, 1), cell) / cell)]);
    }
  }
  return table;
}

// cv2.resize(src[y0:y1, x0:x1], (dw, dh), interpolation=INTER_AREA) for a shrink (float sums).
export function resizeArea(src, x0, y0, x1, y1, dw, dh) {
  const sw = x1 - x0, sh = y1 - y0;
  const xtab = areaTable(sw, dw, sw / dw), ytab = areaTable(sh, dh, sh / dh);
  const out = { data: new Uint8ClampedArray(dw * dh * 4), width: dw, height: dh };
  const buf = new Float32Array(dw * 3), sum = new Float32Array(dw * 3);
  const flush = (dy) => {
    for (let dx = 0; dx < dw; dx++) {
      for (let c = 0; c < 3; c++) out.data[(dy * dw + dx) * 4 + c] = sat8(sum[dx * 3 + c]);
      out.data[(dy * dw + dx) * 4 + 3] = 255;
    }
  };
  let prev = ytab.length ? ytab[0][0] : 0;
  for (const [dy, sy, beta] of ytab) {
    buf.fill(0);
    const row = ((y0 + sy) * src.width + x0) * 4;
    for (const [dx, sx, alpha] of xtab) {
      const s = row + sx * 4;
      for (let c = 0; c < 3; c++) buf[dx * 3 + c] = f32(buf[dx * 3 + c] + src.data[s + c] * alpha);
    }
    if (dy !== prev) {
      flush(prev);
      for (let i = 0; i < sum.length; i++) sum[i] = beta * buf[i];
      prev = dy;
    } else {
      for (let i = 0; i < sum.length; i++) sum[i] = f32(sum[i] + beta * buf[i]);
    }
  }
  flush(prev);
  return out;
}

function linearTable(ssize, dsize) {
  const scale = ssize / dsize;
  const index = new Int32Array(dsize * 2), weight = new Int32Array(dsize * 2);
  for (let d = 0; d < dsize; d++) {
    let f = f32((d + 0.5) * scale - 0.5);
    let s = Math.floor(f);
    f = f32(f - s);
    if (s < 0) { f = 0; s = 0; }
    if (s >= ssize - 1) { f = 0; s = ssize - 1; }
    index[2 * d] = s; index[2 * d + 1] = Math.min(s + 1, ssize - 1);
    weight[2 * d] = rint(f32(1 - f) * 2048); weight[2 * d + 1] = rint(f * 2048);
  }
  return { index, weight };
}

// cv2.resize(src, (dw, dh), interpolation=INTER_LINEAR) on 8-bit pixels: 11-bit fixed-point
// weights, the vertical pass as OpenCV's SIMD code rounds it.
export function resizeLinear(src, dw, dh) {
  const xs = linearTable(src.width, dw), ys = linearTable(src.height, dh);
  const rows = new Map();
  const hrow = (sy) => {
    let r = rows.get(sy);
    if (r) return r;
    r = new Int32Array(dw * 3);
    const base = sy * src.width * 4;
    for (let dx = 0; dx < dw; dx++) {
      const a = base + xs.index[2 * dx] * 4, b = base + xs.index[2 * dx + 1] * 4;
      const wa = xs.weight[2 * dx], wb = xs.weight[2 * dx + 1];
      for (let c = 0; c < 3; c++) {
        r[dx * 3 + c] = wb ? src.data[a + c] * wa + src.data[b + c] * wb : src.data[a + c] * 2048;
      }
    }
    rows.set(sy, r);
    return r;
  };
  const out = { data: new Uint8ClampedArray(dw * dh * 4), width: dw, height: dh };
  for (let dy = 0; dy < dh; dy++) {
    const r0 = hrow(ys.index[2 * dy]), r1 = hrow(ys.index[2 * dy + 1]);
    const b0 = ys.weight[2 * dy], b1 = ys.weight[2 * dy + 1];
    for (let dx = 0; dx < dw; dx++) {
      for (let c = 0; c < 3; c++) {
        const i = dx * 3 + c;
        const v = (((b0 * (r0[i] >> 4)) >> 16) + ((b1 * (r1[i] >> 4)) >> 16) + 2) >> 2;
        out.data[(dy * dw + dx) * 4 + c] = v < 0 ? 0 : v > 255 ? 255 : v;
      }
      out.data[(dy * dw + dx) * 4 + 3] = 255;
    }
  }
  return out;
}

// lgmpose.data.crops.area_prefilter: where the crop shrinks the image, area-average the covered
// region to the crop's scale first and rewrite the matrix for that smaller source.
export function areaPrefilter(image, m, outH, outW) {
  const shrink = Math.sqrt(Math.abs(m[0] * m[4] - m[1] * m[3]));
  if (shrink >= 1) return { source: image, matrix: m };
  // The inverse matrix maps the crop's outer pixel edges back into the image.
  const det = m[0] * m[4] - m[1] * m[3], id = det !== 0 ? 1 / det : 0;
  const A11 = m[4] * id, A12 = -m[1] * id, A21 = -m[3] * id, A22 = m[0] * id;
  const B1 = -A11 * m[2] - A12 * m[5], B2 = -A21 * m[2] - A22 * m[5];
  const corners = [[-0.5, -0.5], [outW - 0.5, -0.5], [-0.5, outH - 0.5], [outW - 0.5, outH - 0.5]];
  const xs = corners.map(([u, v]) => u * A11 + v * A12 + B1);
  const ys = corners.map(([u, v]) => u * A21 + v * A22 + B2);
  const x0 = Math.max(Math.floor(Math.min(...xs)) - 2, 0);
  const y0 = Math.max(Math.floor(Math.min(...ys)) - 2, 0);
  const x1 = Math.min(Math.ceil(Math.max(...xs)) + 2, image.width);
  const y1 = Math.min(Math.ceil(Math.max(...ys)) + 2, image.height);
  if (x1 - x0 < 2 || y1 - y0 < 2) return { source: image, matrix: m };
  const width = Math.max(1, roundHalfEven((x1 - x0) * shrink));
  const height = Math.max(1, roundHalfEven((y1 - y0) * shrink));
  const source = resizeArea(image, x0, y0, x1, y1, width, height);
  const fx = width / (x1 - x0), fy = height / (y1 - y0);
  const t = [1 / fx, 0, 0.5 / fx - 0.5 + x0, 0, 1 / fy, 0.5 / fy - 0.5 + y0];
  const matrix = [
    m[0] * t[0] + m[1] * t[3], m[0] * t[1] + m[1] * t[4], m[0] * t[2] + m[1] * t[5] + m[2],
    m[3] * t[0] + m[4] * t[3], m[3] * t[1] + m[4] * t[4], m[3] * t[2] + m[4] * t[5] + m[5],
  ];
  return { source, matrix };
}

// lgmpose.data.crops.crop_image: the crop under `m` (area-averaged first where it shrinks).
export function cropImage(image, m, outH, outW) {
  const { source, matrix } = areaPrefilter(image, m, outH, outW);
  return { data: warpAffine(source, matrix, outW, outH), width: outW, height: outH };
}

// An RGBA crop into `out` (Float32Array [3, H, W] at `offset`): RGB planes, (v - mean) * (1/std).
export function normalizeInto(crop, mean, std, out, offset = 0) {
  const n = crop.width * crop.height;
  for (let c = 0; c < 3; c++) {
    const mu = f32(mean[c]), inv = f32(1 / f32(std[c]));
    const plane = offset + c * n;
    for (let i = 0; i < n; i++) out[plane + i] = f32(crop.data[i * 4 + c] - mu) * inv;
  }
}
