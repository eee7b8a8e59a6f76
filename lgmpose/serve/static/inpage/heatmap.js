// Heatmap decoding as lgmpose.codecs.heatmap does it: the argmax of each map, then DARK's
// refinement (Gaussian blur of the map, one Newton step on its logarithm), with the map extended
// past its border along its own log-quadratic shape before blurring. Then heatmap pixels -> crop
// pixels with the codec's factor (UDP: (w - 1) / (W - 1); MSRA/DARK: w / W).

const f32 = Math.fround;

function blurKernelSize(sigma) {
  const k = Math.round(((sigma - 0.8) / 0.3 + 1.0) * 2.0 + 1.0);
  return Math.max(3, k | 1);
}

// cv2.getGaussianKernel(k, sigma) as float32 (computed in double, normalised).
function gaussianKernel(k, sigma) {
  const out = new Float64Array(k);
  let sum = 0;
  for (let i = 0; i < k; i++) {
    const x = i - (k - 1) * 0.5;
    out[i] = Math.exp((-0.5 / (sigma * sigma)) * x * x);
    sum += out[i];
  }
  return Float32Array.from(out, (v) => v / sum);
}

// _extend_log along one axis of a row-major [rows, cols] float32 map, capped at `ceiling`.
function extendLog(src, rows, cols, pad, alongCols, ceiling) {
  const nr = alongCols ? rows : rows + 2 * pad, nc = alongCols ? cols + 2 * pad : cols;
  const out = new Float32Array(nr * nc);
  const at = (r, c) => src[r * cols + c];
  const lines = alongCols ? rows : cols, len = alongCols ? cols : rows;
  const get = (line, i) => (alongCols ? at(line, i) : at(i, line));
  const put = (line, i, v) => {
    if (alongCols) out[line * nc + i] = v; else out[i * nc + line] = v;
  };
  for (let line = 0; line < lines; line++) {
    for (let i = 0; i < len; i++) put(line, i + pad, get(line, i));
    for (const [first, second, third, sign] of [[0, 1, 2, -1], [len - 1, len - 2, len - 3, 1]]) {
      const l0 = get(line, first), l1 = get(line, second), l2 = get(line, third);
      const slope = f32(l0 - l1), curve = f32(f32(l0 - f32(2 * l1)) + l2);
      for (let d = 1; d <= pad; d++) {
        let ext = f32(f32(l0 + f32(d * slope)) + f32(f32(f32(d * (d + 1)) * 0.5) * curve));
        ext = Math.min(ext, ceiling);
        put(line, sign < 0 ? pad - d : pad + len - 1 + d, ext);
      }
    }
  }
  return { data: out, rows: nr, cols: nc };
}

// Sub-pixel maximum of one [h, w] heatmap (Float32Array view): {x, y, score}.
export function decodeDark(map, h, w, sigma) {
  let best = 0;
  for (let i = 1; i < map.length; i++) if (map[i] > map[best]) best = i;
  const score = map[best];
  const x = best % w, y = Math.floor(best / w);
  if (h < 3 || w < 3) return { x, y, score };
  const k = blurKernelSize(sigma), pad = k >> 1;
  const logs = new Float32Array(h * w);
  let ceiling = -Infinity;
  for (let i = 0; i < logs.length; i++) {
    logs[i] = Math.log(Math.max(map[i], f32(1e-10)));
    if (logs[i] > ceiling) ceiling = logs[i];
  }
  const wide = extendLog(logs, h, w, pad, true, ceiling);
  const full = extendLog(wide.data, wide.rows, wide.cols, pad, false, ceiling);
  const P = full.data, R = full.rows, C = full.cols;
  const padded = new Float32Array(P.length);
  for (let i = 0; i < P.length; i++) padded[i] = Math.exp(f32(P[i] - ceiling));
  const kernel = gaussianKernel(k, sigma);
  // The blurred log at padded (r, c): rows first, then columns, zero outside (BORDER_CONSTANT).
  const blurredLog = (r, c) => {
    let acc = 0;
    for (let i = 0; i < k; i++) {
      const rr = r + i - pad;
      if (rr < 0 || rr >= R) continue;
      let row = 0;
      for (let j = 0; j < k; j++) {
        const cc = c + j - pad;
        if (cc >= 0 && cc < C) row += kernel[j] * padded[rr * C + cc];
      }
      acc += kernel[i] * f32(row);
    }
    return f32(Math.log(Math.max(f32(acc), f32(1e-10))));
  };
  const xi = x + pad, yi = y + pad;
  const L = (dy, dx) => blurredLog(yi + dy, xi + dx);
  const c0 = L(0, 0), r = L(0, 1), l = L(0, -1), d = L(1, 0), u = L(-1, 0);
  const dx = f32(0.5 * f32(r - l)), dy = f32(0.5 * f32(d - u));
  const dxx = f32(f32(r - f32(2 * c0)) + l), dyy = f32(f32(d - f32(2 * c0)) + u);
  const dxy = f32(0.25 * f32(f32(f32(L(1, 1) - L(1, -1)) - L(-1, 1)) + L(-1, -1)));
  const det = f32(f32(dxx * dyy) - f32(dxy * dxy));
  if (!(det > 1e-12 && dxx < 0)) return { x, y, score };
  const clip = (v) => Math.min(1, Math.max(-1, v));
  const ox = clip(f32(-f32(f32(dyy * dx) - f32(dxy * dy)) / det));
  const oy = clip(f32(-f32(f32(dxx * dy) - f32(dxy * dx)) / det));
  return { x: f32(x + ox), y: f32(y + oy), score };
}

// heatmaps: Float32Array [K, h, w] of one person -> {keypoints: [[x, y] crop px], scores}.
export function decodeHeatmaps(heatmaps, offset, k, h, w, codec, inputSize) {
  const udp = codec.name === "udp";
  const fx = udp ? (w - 1) / (inputSize[1] - 1) : w / inputSize[1];
  const fy = udp ? (h - 1) / (inputSize[0] - 1) : h / inputSize[0];
  const keypoints = [], scores = [];
  for (let j = 0; j < k; j++) {
    const map = heatmaps.subarray(offset + j * h * w, offset + (j + 1) * h * w);
    const p = codec.refine === "quarter" ? quarter(map, h, w) : decodeDark(map, h, w, codec.sigma);
    keypoints.push([f32(p.x / fx), f32(p.y / fy)]);
    scores.push(p.score);
  }
  return { keypoints, scores };
}

function quarter(map, h, w) {
  let best = 0;
  for (let i = 1; i < map.length; i++) if (map[i] > map[best]) best = i;
  let x = best % w, y = Math.floor(best / w);
  const score = map[best];
  if (x > 0 && x < w - 1 && y > 0 && y < h - 1) {
    x += 0.25 * Math.sign(map[best + 1] - map[best - 1]);
    y += 0.25 * Math.sign(map[best + w] - map[best - w]);
  }
  return { x, y, score };
}
