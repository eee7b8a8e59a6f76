// Video behaviour as lgmpose.video.VideoPipeline has it: detection every N frames (people followed
// between detections with boxes around their last keypoints, dropped when their keypoints fade),
// greedy IoU/OKS tracking with stable ids, and One-Euro smoothing scaled by the person's size.
// A person is {box: [x, y, w, h], keypoints: [[x, y]], scores: [], boxScore, trackId}.

import { iou } from "./nanodet.js";

const xyxy = (b) => [b[0], b[1], b[0] + b[2], b[1] + b[3]];

// lgmpose.detectors.boxes.boxes_from_keypoints for one person.
export function boxFromKeypoints(keypoints, scores, fallback, reference, kptThr,
                                 grow = 1.2, minPoints = 4, minKeep = 0.5) {
  const pts = keypoints.filter((p, i) => scores[i] >= kptThr);
  if (pts.length < minPoints) return fallback.slice();
  const xs = pts.map((p) => p[0]), ys = pts.map((p) => p[1]);
  const lo = [Math.min(...xs), Math.min(...ys)], hi = [Math.max(...xs), Math.max(...ys)];
  const size = [Math.max((hi[0] - lo[0]) * grow, reference[2] * minKeep),
                Math.max((hi[1] - lo[1]) * grow, reference[3] * minKeep)];
  const centre = [(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2];
  return [centre[0] - size[0] / 2, centre[1] - size[1] / 2, size[0], size[1]];
}

function oks(a, b, area, sigmas, valid) {
  let sum = 0, count = 0;
  for (let k = 0; k < a.length; k++) {
    if (!valid[k]) continue;
    const d2 = (a[k][0] - b[k][0]) ** 2 + (a[k][1] - b[k][1]) ** 2;
    const v = (2 * sigmas[k]) ** 2;
    sum += Math.exp(-d2 / (2 * v * (area + 1e-6)));
    count += 1;
  }
  return sum / Math.max(count, 1);
}

export class PoseTracker {
  // threshold and kptThr: the model description's video.track_thr and kpt_thr
  constructor(sigmas, { threshold, maxAge = 10, kptThr }) {
    Object.assign(this, { sigmas, threshold, maxAge, kptThr });
    this.reset();
  }

  reset() { this.frame = -1; this.nextId = 0; this.tracks = []; }

  update(people) {
    this.frame += 1;
    this.tracks = this.tracks.filter((t) => this.frame - t.lastSeen <= this.maxAge);
    const ids = people.map(() => -1);
    const pairs = [];
    people.forEach((p, i) => this.tracks.forEach((t, j) => {
      let sim = iou(xyxy(p.box), xyxy(t.box));
      const valid = t.scores.map((s) => s > this.kptThr);
      if (valid.some(Boolean)) {
        sim = Math.max(sim, oks(p.keypoints, t.keypoints, t.box[2] * t.box[3], this.sigmas, valid));
      }
      pairs.push([sim, i, j]);
    }));
    pairs.sort((a, b) => b[0] - a[0]);
    const usedNew = new Set(), usedOld = new Set();
    for (const [sim, i, j] of pairs) {
      if (sim < this.threshold) break;
      if (usedNew.has(i) || usedOld.has(j)) continue;
      usedNew.add(i); usedOld.add(j);
      ids[i] = this.tracks[j].id;
      this.refresh(this.tracks[j], people[i]);
    }
    people.forEach((p, i) => {
      if (ids[i] >= 0) return;
      const track = { id: this.nextId++ };
      this.refresh(track, p);
      this.tracks.push(track);
      ids[i] = track.id;
    });
    return ids;
  }

  refresh(track, p) {
    Object.assign(track, { box: p.box, keypoints: p.keypoints, scores: p.scores,
                           lastSeen: this.frame });
  }
}

const alpha = (cutoff, dt) => 1 / (1 + 1 / (2 * Math.PI * cutoff) / dt);

// One-Euro filter per track id over the keypoints (lgmpose.video.smoothing.PoseSmoother).
export class PoseSmoother {
  constructor({ minCutoff = 1.0, beta = 2.0, dCutoff = 1.0, forgetAfter = 1.0 } = {}) {
    Object.assign(this, { minCutoff, beta, dCutoff, forgetAfter });
    this.filters = new Map();
  }

  reset() { this.filters.clear(); }

  smooth(people, t) {
    for (const p of people) {
      const scale = Math.max(Math.hypot(p.box[2], p.box[3]), 1);
      const x = p.keypoints.flat();
      let f = this.filters.get(p.trackId);
      if (!f || t <= f.t) {
        f = { x: x.slice(), dx: x.map(() => 0), t };
      } else {
        const dt = t - f.t, ad = alpha(this.dCutoff, dt);
        for (let i = 0; i < x.length; i++) {
          f.dx[i] = ad * ((x[i] - f.x[i]) / dt) + (1 - ad) * f.dx[i];
          const a = alpha(this.minCutoff + this.beta * Math.abs(f.dx[i]) / scale, dt);
          f.x[i] = a * x[i] + (1 - a) * f.x[i];
        }
        f.t = t;
      }
      this.filters.set(p.trackId, f);
      p.keypoints = p.keypoints.map((_, k) => [Math.fround(f.x[2 * k]), Math.fround(f.x[2 * k + 1])]);
    }
    for (const [id, f] of this.filters) if (t - f.t > this.forgetAfter) this.filters.delete(id);
  }
}

// The per-frame loop: estimator has detect(image) and estimate(image, boxes) (see estimator.js).
export class VideoPipeline {
  // kptThr, the drawing threshold, defaults to the model description's kpt_thr; the tracker's
  // threshold and the lost ratio are the description's video section (lgmpose.defaults)
  constructor(estimator, { detInterval = 1, smooth = true, kptThr } = {}) {
    const { kpt_thr: modelKptThr, video: { track_thr: threshold, lost_ratio: lostRatio } } =
      estimator.config;
    this.estimator = estimator;
    this.detInterval = Math.max(1, detInterval | 0);
    this.kptThr = kptThr ?? modelKptThr;
    this.lostRatio = lostRatio;
    this.tracker = new PoseTracker(estimator.config.pose.sigmas,
      { threshold, maxAge: Math.max(10, this.detInterval), kptThr: this.kptThr });
    this.smoother = smooth ? new PoseSmoother() : null;
    this.reset();
  }

  reset() {
    this.frameIndex = 0;
    this.prev = null;
    this.tracker.reset();
    if (this.smoother) this.smoother.reset();
  }

  async run(image, t) {
    const now = () => performance.now();
    const t0 = now();
    const detectNow = this.frameIndex % this.detInterval === 0 || !this.prev;
    let boxes, boxScores, refs, refConf;
    const timings = {};
    if (detectNow) {
      const found = await this.estimator.detect(image, timings);
      boxes = found.boxes; boxScores = found.scores; refs = boxes;
    } else {
      boxes = []; boxScores = []; refs = []; refConf = [];
      this.prev.forEach((p) => {
        const b = boxFromKeypoints(p.keypoints, p.scores, p.box, p.ref, this.kptThr);
        const x1 = Math.min(Math.max(b[0], 0), image.width);
        const y1 = Math.min(Math.max(b[1], 0), image.height);
        const x2 = Math.min(Math.max(b[0] + b[2], 0), image.width);
        const y2 = Math.min(Math.max(b[1] + b[3], 0), image.height);
        if (x2 - x1 > 2 && y2 - y1 > 2) {
          boxes.push([x1, y1, x2 - x1, y2 - y1]); boxScores.push(p.boxScore);
          refs.push(p.ref); refConf.push(p.refConf);
        }
      });
    }
    const t1 = now();
    let people = await this.estimator.estimate(image, boxes, timings);
    const t2 = now();
    people.forEach((p, i) => {
      p.boxScore = boxScores[i]; p.ref = refs[i];
      const mean = p.scores.reduce((a, b) => a + b, 0) / p.scores.length;
      p.refConf = detectNow ? mean : refConf[i];
      p.alive = detectNow || mean >= this.lostRatio * refConf[i];
    });
    people = people.filter((p) => p.alive);
    const ids = this.tracker.update(people);
    people.forEach((p, i) => { p.trackId = ids[i]; });
    // The next frame follows the unsmoothed keypoints, as the Python pipeline does.
    this.prev = people.length ? people.map((p) => ({ ...p })) : null;
    if (this.smoother && people.length) this.smoother.smooth(people, t);
    const t3 = now();
    this.frameIndex += 1;
    return { people, detected: detectNow,
             timings: { detect: t1 - t0, pose: t2 - t1, track: t3 - t2, ...timings } };
  }
}
