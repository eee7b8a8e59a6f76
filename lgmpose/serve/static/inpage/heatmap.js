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

// One step of _extend_log: the value `d` places beyond l0, continuing the quadratic through the
// three outermost values l0, l1, l2 (float32, as NumPy computes it), capped at `ceiling`.
function extend(l0, l1, l2, d, ceiling) {
  const slope = f32(l0 - l1), curve = f32(f32(l0 - f32(2 * l1)) + l2);
  return Math.min(f32(f32(l0 + f32(d * slope)) + f32(f32(f32(d * (d + 1)) * 0.5) * curve)),
                  ceiling);
}

// Sub-pixel maximum of one [h, w] heatmap (Float32Array view): {x, y, score}. Only the part of
// the extended, blurred log-map that the Newton step reads is computed (a (k + 2)^2 window
// around the maximum); each value is what the Python code computes for the whole map.
export function decodeDark(map, h, w, sigma) {
  let best = 0;
  for (let i = 1; i < map.length; i++) if (map[i] > map[best]) best = i;
  const score = map[best];
  const x = best % w, y = Math.floor(best / w);
  if (h < 3 || w < 3) return { x, y, score };
  const k = blurKernelSize(sigma), pad = k >> 1;
  const floor = f32(1e-10);
  const log = (r, c) => f32(Math.log(Math.max(map[r * w + c], floor)));
  const ceiling = log(y, x);                    // the largest log is the log of the largest value
  // The map extended along its rows, then along its columns (padded coordinates).
  const wide = (r, c) => {
    if (c >= pad && c < pad + w) return log(r, c - pad);
    if (c < pad) return extend(log(r, 0), log(r, 1), log(r, 2), pad - c, ceiling);
    return extend(log(r, w - 1), log(r, w - 2), log(r, w - 3), c - pad - w + 1, ceiling);
  };
  const full = (r, c) => {
    if (r >= pad && r < pad + h) return wide(r - pad, c);
    if (r < pad) return extend(wide(0, c), wide(1, c), wide(2, c), pad - r, ceiling);
    return extend(wide(h - 1, c), wide(h - 2, c), wide(h - 3, c), r - pad - h + 1, ceiling);
  };
  const R = h + 2 * pad, C = w + 2 * pad;
  const xi = x + pad, yi = y + pad, span = pad + 1, side = 2 * span + 1;
  const window = new Float32Array(side * side);        // padded (yi - span.., xi - span..)
  for (let i = 0; i < side; i++) {
    for (let j = 0; j < side; j++) {
      const r = yi - span + i, c = xi - span + j;
      window[i * side + j] = r >= 0 && r < R && c >= 0 && c < C
        ? Math.exp(f32(full(r, c) - ceiling)) : 0;
    }
  }
  const kernel = gaussianKernel(k, sigma);
  // The blurred log at padded (yi + dy, xi + dx): rows first, then columns; zero outside
  // the padded map (BORDER_CONSTANT), which the window already holds.
  const L = (dy, dx) => {
    let acc = 0;
    for (let i = 0; i < k; i++) {
      const wi = span + dy + i - pad;
      let row = 0;
      for (let j = 0; j < k; j++) row += kernel[j] * window[wi * side + span + dx + j - pad];
      acc += kernel[i] * f32(row);
    }
    return f32(Math.log(Math.max(f32(acc), floor)));
  };
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
