// The live page of `lgmpose serve`: poses on a picture or camera frames, drawn in the model's
// keypoint colours. Two modes: "in this browser" runs the service's .onnx models with ONNX Runtime
// Web on this machine (inpage/, nothing is sent); "on the server" sends each frame to
// POST /v1/pose. The first is the default where the browser can run it.
//
// window.lgmpose exposes the state (last result, what was drawn, per-frame timings) for tests and
// the console. URL parameters: ?camera=1 starts the camera at once; ?kpt_thr=0.1 sets the
// threshold (default: the service's); ?mode=server|browser; ?det_every=N (in this browser).

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const state = {
  model: null,
  mode: "idle",          // idle | picture | camera
  run: "server",         // where poses are estimated: browser | server
  detEvery: 3,           // in this browser: detector every N camera frames
  runtime: null,         // in this browser: {threads, isolated, load_ms, model_bytes}
  history: [],           // the last frames: {run, ms, timings}
  kptThr: 0,             // set from /v1/model (or ?kpt_thr) before anything is drawn
  showBoxes: true,
  frames: 0,             // responses drawn since the mode started
  fps: 0,
  last: null,            // the last /v1/pose response (with roundtrip_ms)
  error: null,
  drawn: { people: 0, keypoints: 0, links: 0, points: [] },  // points: canvas x, y, rgb
};
window.lgmpose = state;
const BASE = new URL(".", location.href);
let inpage = null;        // the in-page modules and estimator, loaded on first use
let video = null;         // in this browser: the VideoPipeline of the running camera

const canvas = $("view");
const ctx = canvas.getContext("2d");
const videoEl = $("video");
const grab = document.createElement("canvas");     // the camera frame being sent
const grabCtx = grab.getContext("2d", { willReadFrequently: true });
let stream = null;
let lastImage = null;                               // what the skeletons are drawn over
let frameTimes = [];

function rgb(c) { return `rgb(${c[0]},${c[1]},${c[2]})`; }

function setMessage(text, isError = false) {
  const el = $("message");
  el.textContent = text;
  el.classList.toggle("error", isError);
  state.error = isError ? text : null;
}

// The API key, when the service asks for one: asked once, kept for this tab (sessionStorage).
const KEY_ITEM = "lgmpose-api-key";

async function apiFetch(url, options = {}) {
  for (let attempt = 0; ; attempt += 1) {
    const key = sessionStorage.getItem(KEY_ITEM);
    const headers = { ...(options.headers || {}) };
    if (key) headers.Authorization = `Bearer ${key}`;
    const response = await fetch(url, { ...options, headers });
    if (response.status !== 401 || attempt > 0) return response;
    const entered = window.prompt("This service needs its API key:");
    if (!entered) return response;
    sessionStorage.setItem(KEY_ITEM, entered.trim());
  }
}

// After a failed request nothing of the previous answer stays on screen as if it were current.
function clearResult() {
  state.last = null;
  lastImage = null;
  state.drawn = { people: 0, keypoints: 0, links: 0, points: [] };
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  for (const id of ["fps", "latency", "timings", "people"]) $(id).textContent = "–";
  const stats = $("stats");
  stats.dataset.mode = state.mode;
  stats.dataset.people = stats.dataset.keypoints = stats.dataset.links = "0";
}

// models/model.json describes the model for both modes (the service also serves it; a static
// copy of the page has only this file); a service without it still has /v1/model.
async function loadModel() {
  let response = await apiFetch(new URL("models/model.json", BASE));
  if (!response.ok) response = await apiFetch(new URL("v1/model", BASE));
  const model = await response.json();
  if (!response.ok) throw new Error(model.detail || response.statusText);
  state.model = model;
  const detector = model.detector && model.detector.name ? model.detector.name :
    `${model.detector} (${model.detector_class})`;
  $("model").textContent = `${model.name} (${model.weights}), ${model.num_keypoints} keypoints, ` +
    `input ${model.input_size[0]}x${model.input_size[1]}, detector ${detector}`;
  if (model.server === false) $("api-link").hidden = true;
}

function browserProblem() {
  const model = state.model;
  if (model.in_browser !== true) {
    return model.in_browser || "this service offers no models to the page";
  }
  if (typeof WebAssembly !== "object") return "this browser has no WebAssembly";
  return null;
}

function setRun(run) {
  const problem = browserProblem();
  if (run === "browser" && problem) run = "server";
  if (run === "server" && state.model.server === false) run = "browser";
  state.run = run;
  $("mode").value = run;
  $("mode").querySelector('[value="browser"]').disabled = !!problem;
  $("mode").querySelector('[value="server"]').disabled = state.model.server === false;
  $("timings-label").textContent = run === "browser" ? "in page" : "server";
  $("latency").parentElement.firstChild.textContent = run === "browser" ? "frame " : "round trip ";
  if (problem) $("runtime").textContent = `in this browser: not available (${problem})`;
  video = null;
}

async function loadInPage() {
  if (inpage) return inpage;
  setMessage("loading ONNX Runtime Web and the models (once)…");
  const t0 = performance.now();
  const [est, vid] = await Promise.all([import("./inpage/estimator.js"), import("./inpage/video.js")]);
  const estimator = await est.InPageEstimator.load(BASE, { fetcher: apiFetch });
  const isolated = globalThis.crossOriginIsolated === true;
  state.runtime = { threads: estimator.threads, isolated, load_ms: performance.now() - t0,
                    model_bytes: estimator.bytes };
  $("runtime").textContent = `in this browser: ONNX Runtime Web (WebAssembly), ` +
    `${estimator.threads} thread(s)` + (isolated ? "" : " (the page is not cross-origin " +
    "isolated, so WebAssembly runs single-threaded)") +
    `; models ${(estimator.bytes / 1048576).toFixed(1)} MB loaded in ` +
    `${state.runtime.load_ms.toFixed(0)} ms`;
  inpage = { estimator, VideoPipeline: vid.VideoPipeline };
  state.inpage = { estimate: estimateUrl };
  return inpage;
}

function imageData(source, w, h) {
  if (grab.width !== w || grab.height !== h) { grab.width = w; grab.height = h; }
  grabCtx.drawImage(source, 0, 0, w, h);
  return grabCtx.getImageData(0, 0, w, h);
}

// People of the page's pipeline -> the answer layout of POST /v1/pose (what render() draws).
function asAnswer(people, image, timings, ms) {
  return {
    model: state.model.name, image: { width: image.width, height: image.height, format: "page" },
    boxes_from: "detector",
    people: people.map((p) => ({
      keypoints: p.keypoints.flatMap(([x, y], k) => [x, y, p.scores[k]]),
      bbox: p.box, box_score: p.boxScore, track_id: p.trackId })),
    timings_ms: timings, roundtrip_ms: ms,
  };
}

// For tests and the console: the page's own estimate on a picture (a URL or a Blob), no
// tracking.
async function estimateUrl(source) {
  const { estimator } = await loadInPage();
  const blob = source instanceof Blob ? source : await (await fetch(source)).blob();
  const bitmap = await createImageBitmap(blob, { colorSpaceConversion: "none",
                                                 premultiplyAlpha: "none" });
  const image = imageData(bitmap, bitmap.width, bitmap.height);
  const detected = await estimator.detect(image);
  const people = await estimator.estimate(image, detected.boxes);
  return people.map((p, i) => ({ box: p.box, box_score: detected.scores[i],
                                 keypoints: p.keypoints, scores: p.scores }));
}

async function postImage(blob, type) {
  const t0 = performance.now();
  const response = await apiFetch(new URL("v1/pose", BASE), {
    method: "POST",
    headers: { "Content-Type": type || blob.type || "application/octet-stream" },
    body: blob,
  });
  let answer;
  try {
    answer = await response.json();
  } catch (e) {
    throw new Error(`HTTP ${response.status} ${response.statusText}`);
  }
  if (!response.ok) throw new Error(answer.detail || `HTTP ${response.status}`);
  answer.roundtrip_ms = performance.now() - t0;
  return answer;
}

// Draw `image` and the people of `answer` on the visible canvas; record what was drawn.
function render(image, answer) {
  const w = image.width || image.videoWidth, h = image.height || image.videoHeight;
  if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
  ctx.drawImage(image, 0, 0, w, h);
  lastImage = image;
  const drawn = { people: 0, keypoints: 0, links: 0, points: [] };
  const model = state.model;
  if (answer && model) {
    const unit = Math.max(1, Math.round(Math.max(w, h) / 400));
    const k = model.num_keypoints;
    ctx.lineCap = "round";
    for (const person of answer.people) {
      const kp = person.keypoints;
      const ok = (i) => kp[3 * i + 2] >= state.kptThr;
      if (state.showBoxes) {
        const [x, y, bw, bh] = person.bbox;
        ctx.strokeStyle = "rgba(255,255,255,0.85)";
        ctx.lineWidth = unit;
        ctx.strokeRect(x, y, bw, bh);
      }
      ctx.lineWidth = 2 * unit;
      model.skeleton.forEach(([a, b], i) => {
        if (!ok(a) || !ok(b)) return;
        ctx.strokeStyle = rgb(model.skeleton_colors[i]);
        ctx.beginPath();
        ctx.moveTo(kp[3 * a], kp[3 * a + 1]);
        ctx.lineTo(kp[3 * b], kp[3 * b + 1]);
        ctx.stroke();
        drawn.links += 1;
      });
      for (let i = 0; i < k; i++) {
        if (!ok(i)) continue;
        const color = model.keypoint_colors[i];
        ctx.fillStyle = rgb(color);
        ctx.beginPath();
        ctx.arc(kp[3 * i], kp[3 * i + 1], 2 * unit + 1, 0, 2 * Math.PI);
        ctx.fill();
        drawn.keypoints += 1;
        drawn.points.push({ x: kp[3 * i], y: kp[3 * i + 1], color });
      }
      drawn.people += 1;
    }
  }
  state.drawn = drawn;
  const stats = $("stats");
  stats.dataset.mode = state.mode;
  stats.dataset.frames = String(state.frames);
  stats.dataset.people = String(drawn.people);
  stats.dataset.keypoints = String(drawn.keypoints);
  stats.dataset.links = String(drawn.links);
}

function showNumbers(answer) {
  const t = answer.timings_ms;
  const f = (v) => (v || 0).toFixed(1);
  $("latency").textContent = `${answer.roundtrip_ms.toFixed(0)} ms`;
  $("timings").textContent = state.run === "browser"
    ? `detect ${f(t.detect)} (prep ${f(t.det_prep)} + run ${f(t.det_run)} + post ` +
      `${f(t.det_post)}) + pose ${f(t.pose)} (crop ${f(t.crop)} + run ${f(t.pose_run)} + ` +
      `decode ${f(t.decode)}) + track ${f(t.track)} ms`
    : `detect ${t.detect.toFixed(1)} + pose ${t.pose.toFixed(1)} ms ` +
      `(total ${t.total.toFixed(1)})`;
  $("people").textContent = String(answer.people.length);
  $("fps").textContent = state.mode === "camera" ? state.fps.toFixed(1) : "–";
}

function accept(image, answer) {
  state.last = answer;
  state.frames += 1;
  state.history.push({ run: state.run, mode: state.mode, ms: answer.roundtrip_ms,
                       at: performance.now(), people: answer.people.length,
                       timings: answer.timings_ms });
  if (state.history.length > 500) state.history.shift();
  if (state.mode === "camera") {
    const now = performance.now();
    frameTimes.push(now);
    while (frameTimes.length > 2 && now - frameTimes[0] > 2000) frameTimes.shift();
    if (frameTimes.length > 1) {
      state.fps = 1000 * (frameTimes.length - 1) / (now - frameTimes[0]);
    }
  }
  render(image, answer);
  showNumbers(answer);
}

// -- a picture ---------------------------------------------------------------------------------
async function onPicture(file) {
  if (!file) return;
  await stopCamera();
  state.mode = "picture";
  state.frames = 0;
  setMessage(`${file.name}: estimating…`);
  try {
    let bitmap = null;
    try { bitmap = await createImageBitmap(file, { imageOrientation: "from-image" }); }
    catch (e) { /* the server gives the reason below */ }
    let answer;
    if (state.run === "browser") {
      if (!bitmap) throw new Error("the browser cannot read this picture");
      const { estimator } = await loadInPage();
      const image = imageData(bitmap, bitmap.width, bitmap.height);
      const t0 = performance.now(), timings = {};
      const people = await estimator.call(image, timings);
      timings.detect = timings.det_prep + timings.det_run + timings.det_post;
      timings.pose = timings.crop + timings.pose_run + timings.decode;
      answer = asAnswer(people, image, timings, performance.now() - t0);
    } else {
      answer = await postImage(file);
    }
    if (!bitmap) throw new Error("the browser cannot show this picture");
    accept(bitmap, answer);
    setMessage(`${file.name}: ${answer.people.length} person(s), ` +
      `${state.drawn.keypoints} keypoint(s) drawn above the threshold`);
  } catch (error) {
    clearResult();
    setMessage(`${file.name}: ${error.message}`, true);
  }
}

// -- the camera --------------------------------------------------------------------------------
async function startCamera() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    setMessage("this browser gives no camera access here (pages not on localhost need HTTPS)",
      true);
    return;
  }
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      video: { width: { ideal: 640 }, height: { ideal: 480 } }, audio: false });
  } catch (error) {
    setMessage(`camera: ${error.name}: ${error.message}`, true);
    return;
  }
  videoEl.srcObject = stream;
  await videoEl.play();
  state.mode = "camera";
  state.frames = 0;
  frameTimes = [];
  video = null;
  $("camera").textContent = "Stop camera";
  $("camera").classList.add("on");
  if (state.run === "browser") {
    try {
      await loadInPage();
    } catch (error) {
      setMessage(`in this browser: ${error.message}`, true);
      await stopCamera();
      return;
    }
    setMessage("camera: every frame is estimated in this page; nothing is sent");
  } else {
    setMessage("camera: frames are sent one at a time; the next leaves when the answer is back");
  }
  cameraLoop();
}

async function stopCamera() {
  if (stream) stream.getTracks().forEach((t) => t.stop());
  stream = null;
  if (state.mode === "camera") state.mode = "idle";
  $("camera").textContent = "Start camera";
  $("camera").classList.remove("on");
}

function sleep(ms) { return new Promise((resolve) => setTimeout(resolve, ms)); }

async function browserFrame(w, h) {
  if (!video) {
    video = new inpage.VideoPipeline(inpage.estimator, { detInterval: state.detEvery,
                                                         kptThr: state.model.kpt_thr });
  }
  const t0 = performance.now();
  const image = imageData(videoEl, w, h);
  const result = await video.run(image, t0 / 1000);
  const timings = { ...result.timings, grab: 0 };
  if (!result.detected) Object.assign(timings, { det_prep: 0, det_run: 0, det_post: 0 });
  return asAnswer(result.people, image, timings, performance.now() - t0);
}

async function cameraLoop() {
  while (state.mode === "camera") {
    const w = videoEl.videoWidth, h = videoEl.videoHeight;
    if (!w || !h) { await sleep(30); continue; }
    if (state.run === "browser") {
      try {
        const answer = await browserFrame(w, h);
        if (state.mode !== "camera") break;
        accept(grab, answer);
      } catch (error) {
        console.error(error);
        setMessage(`camera: ${error.message}`, true);
        await sleep(500);
      }
      // Let the page paint and handle input between frames.
      await sleep(0);
      continue;
    }
    if (grab.width !== w || grab.height !== h) { grab.width = w; grab.height = h; }
    grabCtx.drawImage(videoEl, 0, 0, w, h);
    const blob = await new Promise((resolve) => grab.toBlob(resolve, "image/jpeg", 0.85));
    try {
      const answer = await postImage(blob, "image/jpeg");
      if (state.mode !== "camera") break;
      if (state.error) setMessage("camera: running again");
      accept(grab, answer);
    } catch (error) {
      setMessage(`camera: ${error.message}`, true);
      await sleep(500);
    }
  }
}

// -- controls ----------------------------------------------------------------------------------
function setThreshold(value) {
  state.kptThr = Math.min(1, Math.max(0, Number(value) || 0));
  $("thr").value = String(state.kptThr);
  $("thr-value").textContent = state.kptThr.toFixed(2);
  if (lastImage && state.last && state.mode !== "camera") render(lastImage, state.last);
}

$("file").addEventListener("change", (e) => onPicture(e.target.files[0]));
$("camera").addEventListener("click", () => (stream ? stopCamera() : startCamera()));
$("thr").addEventListener("input", (e) => setThreshold(e.target.value));
$("mode").addEventListener("change", async (e) => {
  const camera = state.mode === "camera";
  if (camera) await stopCamera();
  setRun(e.target.value);
  if (camera) startCamera();
});
$("det-every").addEventListener("change", (e) => {
  state.detEvery = Math.max(1, Number(e.target.value) || 1);
  video = null;
});
$("boxes").addEventListener("change", (e) => {
  state.showBoxes = e.target.checked;
  if (lastImage && state.last && state.mode !== "camera") render(lastImage, state.last);
});

(async () => {
  try {
    await loadModel();
  } catch (error) {
    setMessage(`cannot read /v1/model: ${error.message}`, true);
    return;
  }
  setThreshold(params.has("kpt_thr") ? params.get("kpt_thr") : state.model.kpt_thr);
  if (params.has("det_every")) state.detEvery = Math.max(1, Number(params.get("det_every")) || 1);
  $("det-every").value = String(state.detEvery);
  if (!$("det-every").value) {
    $("det-every").append(new Option(String(state.detEvery)));
    $("det-every").value = String(state.detEvery);
  }
  setRun(params.get("mode") || "browser");
  state.inpage = { estimate: estimateUrl };
  state.ready = true;
  if (params.get("camera") === "1") startCamera();
})();
