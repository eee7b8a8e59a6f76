// Crop geometry, as lgmpose.data.transforms and lgmpose.data.crops compute it: a person box
// [x, y, w, h] -> (center, scale) -> the 2x3 matrix taking image points to crop points.
// center/scale are float32 in Python, matrices float64: Math.fround marks the float32 steps.

const f32 = Math.fround;

// Box -> {center: [x, y], scale: [w, h]} at the input's aspect ratio (W / H), widened by padding
// (the model description's box_padding).
export function boxToCrop(box, inputSize, padding) {
  const aspect = inputSize[1] / inputSize[0];
  const [x, y, w, h] = box.map(f32);
  const center = [f32(x + f32(w * 0.5)), f32(y + f32(h * 0.5))];
  const wider = w > f32(aspect * h);        // float32 compare, as NumPy does on float32 arrays
  const fixed = wider ? [w, f32(w / aspect)] : [f32(h * aspect), h];
  return { center, scale: [f32(fixed[0] * padding), f32(fixed[1] * padding)] };
}

// get_affine_transform(center, scale, rot=0, (H, W), udp) -> [a, b, c, d, e, f] (row-major 2x3).
export function cropMatrix(center, scale, inputSize, udp) {
  const [outH, outW] = inputSize;
  let sx, sy, dx, dy;
  if (udp) {
    sx = (outW - 1) / scale[0]; sy = (outH - 1) / scale[1];
    dx = (outW - 1) * 0.5; dy = (outH - 1) * 0.5;
  } else {
    sx = sy = outW / scale[0];
    dx = outW * 0.5; dy = outH * 0.5;
  }
  return [sx, 0, dx - sx * center[0], 0, sy, dy - sy * center[1]];
}

// cv2.invertAffineTransform.
export function invertAffine(m) {
  const [a, b, c, d, e, f] = m;
  let det = a * e - b * d;
  det = det !== 0 ? 1 / det : 0;
  const A11 = e * det, A22 = a * det, A12 = -b * det, A21 = -d * det;
  return [A11, A12, -A11 * c - A12 * f, A21, A22, -A21 * c - A22 * f];
}

export function transformPoint(m, x, y) {
  return [f32(x * m[0] + y * m[1] + m[2]), f32(x * m[3] + y * m[4] + m[5])];
}

// Python's round(): half to even.
export function roundHalfEven(v) {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
