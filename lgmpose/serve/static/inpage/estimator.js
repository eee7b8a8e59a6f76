// PoseEstimator in the page: ONNX Runtime Web (WebAssembly) runs the service's own .onnx files;
// detection, cropping and decoding follow the Python pipeline (see the modules imported below).
//
//   const est = await InPageEstimator.load(baseUrl);       // fetches models/model.json + .onnx
//   const people = await est.estimate(image, boxes);       // image: {data RGBA, width, height}

import { boxToCrop, cropMatrix, invertAffine, transformPoint } from "./geometry.js";
import { cropImage, normalizeInto } from "./imaging.js";
import { decodeHeatmaps } from "./heatmap.js";
import * as nanodet from "./nanodet.js";

let ortModule = null;

// Threads need SharedArrayBuffer, which browsers give only to cross-origin isolated pages
// (COOP/COEP headers); without them ONNX Runtime Web runs on one thread. With them, half the
// cores (at most 4), ONNX Runtime Web's own default: its threads wait for each other by
// spinning, which costs more than it gains when they must share the cores with other work.
export function runtimeThreads() {
  const isolated = globalThis.crossOriginIsolated === true;
  const cores = navigator.hardwareConcurrency || 1;
  return isolated ? Math.max(1, Math.min(4, Math.ceil(cores / 2))) : 1;
}

export function supported() {
  return typeof WebAssembly === "object" && typeof WebAssembly.instantiate === "function";
}

async function loadRuntime(base, threads) {
  if (!ortModule) {
    ortModule = await import(new URL("static/ort/ort.wasm.min.mjs", base).href);
    ortModule.env.wasm.wasmPaths = new URL("static/ort/", base).href;
    ortModule.env.wasm.numThreads = threads;
    // Inference in ONNX Runtime's own worker: the page stays responsive while a frame runs
    // (on the main thread, threaded WebAssembly even busy-waits for its helper threads).
    ortModule.env.wasm.proxy = true;
  }
  return ortModule;
}

const now = () => performance.now();

export class InPageEstimator {
  // `fetcher`: fetch, or a wrapper that adds the service's API key.
  static async load(base, { threads = runtimeThreads(), detThr = null, fetcher = fetch } = {}) {
    const config = await (await fetcher(new URL("models/model.json", base))).json();
    const ort = await loadRuntime(base, threads);
    const options = { executionProviders: ["wasm"], graphOptimizationLevel: "all" };
    const bytes = async (name) => {
      const response = await fetcher(new URL(`models/${name}`, base));
      if (!response.ok) throw new Error(`models/${name}: HTTP ${response.status}`);
      return new Uint8Array(await response.arrayBuffer());
    };
    const [poseBytes, detBytes] = await Promise.all([bytes(config.pose.file),
                                                     bytes(config.detector.file)]);
    const pose = await ort.InferenceSession.create(poseBytes, options);
    const detector = await ort.InferenceSession.create(detBytes, options);
    return new InPageEstimator(ort, config, pose, detector, threads, detThr);
  }

  constructor(ort, config, pose, detector, threads, detThr) {
    Object.assign(this, { ort, config, pose, detector, threads });
    this.detThr = detThr ?? config.detector.det_thr;
    this.bytes = config.pose.bytes + config.detector.bytes;
  }

  // Person boxes [x, y, w, h] and scores, best first (PoseEstimator.detect).
  async detect(image, timings = {}) {
    const t0 = now();
    const { blob, geometry } = nanodet.preprocess(image);
    const input = new this.ort.Tensor("float32", blob, [1, 3, nanodet.INPUT, nanodet.INPUT]);
    const t1 = now();
    const outputs = await this.detector.run({ [this.detector.inputNames[0]]: input });
    const t2 = now();
    const found = nanodet.postprocess(outputs, geometry, image.width, image.height, {
      detThr: this.detThr, iouThr: this.config.detector.iou_thr,
      maxPeople: this.config.detector.max_people });
    const t3 = now();
    Object.assign(timings, { det_prep: t1 - t0, det_run: t2 - t1, det_post: t3 - t2 });
    return found;
  }

  // Keypoints (image pixels) and scores for each box (PoseEstimator.estimate).
  async estimate(image, boxes, timings = {}) {
    const t0 = now();
    const { input_size: size, mean, std, codec, num_keypoints: k, box_padding: padding } =
      this.config.pose;
    const [H, W] = size;
    if (!boxes.length) {
      Object.assign(timings, { crop: 0, pose_run: 0, decode: 0 });
      return [];
    }
    const x = new Float32Array(boxes.length * 3 * H * W);
    const inverse = boxes.map((box, i) => {
      const { center, scale } = boxToCrop(box, size, padding);
      const m = cropMatrix(center, scale, size, codec.name === "udp");
      normalizeInto(cropImage(image, m, H, W), mean, std, x, i * 3 * H * W);
      return invertAffine(m);
    });
    const t1 = now();
    const tensor = new this.ort.Tensor("float32", x, [boxes.length, 3, H, W]);
    const out = await this.pose.run({ [this.pose.inputNames[0]]: tensor });
    const heatmaps = out[this.pose.outputNames[0]];
    const t2 = now();
    const [, , h, w] = heatmaps.dims;
    const people = boxes.map((box, i) => {
      const d = decodeHeatmaps(heatmaps.data, i * k * h * w, k, h, w, codec, size);
      // Scores clipped to [0, 1] as PoseEstimator does (a heatmap's peak can pass 1).
      return { box: box.slice(), scores: d.scores.map((v) => Math.min(1, Math.max(0, v))),
               keypoints: d.keypoints.map(([px, py]) => transformPoint(inverse[i], px, py)) };
    });
    const t3 = now();
    Object.assign(timings, { crop: t1 - t0, pose_run: t2 - t1, decode: t3 - t2 });
    return people;
  }

  // The whole picture: detect, then estimate (PoseEstimator.__call__).
  async call(image, timings = {}) {
    const found = await this.detect(image, timings);
    const people = await this.estimate(image, found.boxes, timings);
    people.forEach((p, i) => { p.boxScore = found.scores[i]; });
    return people;
  }
}
