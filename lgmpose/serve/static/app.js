// The live page of `lgmpose serve`: sends a picture or camera frames to POST /v1/pose and draws
// the returned skeletons in the model's keypoint colours. Inference runs on the server.
//
// window.lgmpose exposes the state (last response, what was drawn) for tests and the console.
// URL parameters: ?camera=1 starts the camera at once; ?kpt_thr=0.1 sets the threshold (default:
// the service's, from /v1/model).
"use strict";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const state = {
  model: null,
  mode: "idle",          // idle | picture | camera
  kptThr: 0,             // set from /v1/model (or ?kpt_thr) before anything is drawn
  showBoxes: true,
  frames: 0,             // responses drawn since the mode started
  fps: 0,
  last: null,            // the last /v1/pose response (with roundtrip_ms)
  error: null,
  drawn: { people: 0, keypoints: 0, links: 0, points: [] },  // points: canvas x, y, rgb
};
window.lgmpose = state;

const canvas = $("view");
const ctx = canvas.getContext("2d");
const video = $("video");
const grab = document.createElement("canvas");     // the camera frame being sent
const grabCtx = grab.getContext("2d");
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

async function loadModel() {
  const response = await apiFetch("/v1/model");
  const model = await response.json();
  if (!response.ok) throw new Error(model.detail || response.statusText);
  state.model = model;
  $("model").textContent = `${model.name} (${model.weights}), ${model.num_keypoints} keypoints, ` +
    `input ${model.input_size[0]}x${model.input_size[1]}, detector ${model.detector} ` +
    `(${model.detector_class})`;
}

async function postImage(blob, type) {
  const t0 = performance.now();
  const response = await apiFetch("/v1/pose", {
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
  $("latency").textContent = `${answer.roundtrip_ms.toFixed(0)} ms`;
  $("timings").textContent = `detect ${t.detect.toFixed(1)} + pose ${t.pose.toFixed(1)} ms ` +
    `(total ${t.total.toFixed(1)})`;
  $("people").textContent = String(answer.people.length);
  $("fps").textContent = state.mode === "camera" ? state.fps.toFixed(1) : "–";
}

function accept(image, answer) {
  state.last = answer;
  state.frames += 1;
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
    const answer = await postImage(file);
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
  video.srcObject = stream;
  await video.play();
  state.mode = "camera";
  state.frames = 0;
  frameTimes = [];
  $("camera").textContent = "Stop camera";
  $("camera").classList.add("on");
  setMessage("camera: frames are sent one at a time; the next leaves when the answer is back");
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

async function cameraLoop() {
  while (state.mode === "camera") {
    const w = video.videoWidth, h = video.videoHeight;
    if (!w || !h) { await sleep(30); continue; }
    if (grab.width !== w || grab.height !== h) { grab.width = w; grab.height = h; }
    grabCtx.drawImage(video, 0, 0, w, h);
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
  state.ready = true;
  if (params.get("camera") === "1") startCamera();
})();
