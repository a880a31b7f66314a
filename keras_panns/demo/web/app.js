// The keras-panns demo page: decodes audio to the model's rate, runs the exported ONNX model with
// onnxruntime-web (WASM) window by window, as keras_panns.tag_long does, and shows tags and a timeline.
// window.pannsDemo is the page's API (used by the tests): ready, tagSamples(samples, name), last.

const $ = (id) => document.getElementById(id);
let config = null;
let ort = null;
let session = null;

class UserError extends Error {}

function setState(state) { document.body.dataset.state = state; }

function showStatus(text, isError = false) {
  const status = $("status");
  status.textContent = text;
  status.classList.toggle("error", isError);
}

function fail(error) {
  setState("error");
  showStatus(error instanceof UserError ? error.message : `Something went wrong: ${error.message || error}`, true);
}

// A tiny module using a SIMD instruction: onnxruntime-web ships only the SIMD build of its WASM runtime.
const SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0,
  65, 0, 253, 15, 253, 98, 11]);

function missingFeatures() {
  const missing = [];
  if (location.protocol === "file:") {
    missing.push("a web server: this page was opened as a file; serve its folder, e.g. " +
                 "'python -m http.server -d SITE 8000', and open http://localhost:8000");
    return missing;
  }
  if (typeof WebAssembly !== "object") missing.push("WebAssembly");
  else if (!WebAssembly.validate(SIMD_PROBE)) missing.push("WebAssembly SIMD");
  if (typeof OfflineAudioContext !== "function") missing.push("the Web Audio API (OfflineAudioContext)");
  if (typeof fetch !== "function") missing.push("fetch");
  return missing;
}

function seconds(n) { return `${(n / config.sample_rate).toFixed(2)} s`; }

function describeModel() {
  const m = config.model;
  const rows = [
    ["Model", `${m.name} (${config.architecture})${m.mAP ? `, AudioSet mAP ${m.mAP}` : ""}`],
    ["Weights", m.weights ? `${m.weights}${m.digest ? ` (${m.digest})` : ""}` : "not from the zoo (a local checkpoint)"],
    ["Source", m.url || "unknown"],
    ["Licence", m.license || "unknown"],
    ["Sample rate", `${config.sample_rate} Hz, mono; windows of ${config.window_seconds} s every ${config.hop_seconds} s`],
    ["File", `${config.file}, ${(config.size_bytes / 1e6).toFixed(1)} MB, ` +
             (config.quantize === "none" ? "float32" : `${config.quantize} quantized`) +
             (config.fallback ? ` (float32 because ${config.fallback})` : "")],
    ["Runtime", `${config.runtime.name} ${config.runtime.version}, WASM, ${ort.env.wasm.numThreads} thread` +
                (ort.env.wasm.numThreads === 1 ? "" : "s")],
    ["One 10-s clip", "measuring\u2026"],
  ];
  const dl = $("model-info");
  dl.replaceChildren();
  for (const [key, value] of rows) {
    const dt = document.createElement("dt");
    dt.textContent = key;
    const dd = document.createElement("dd");
    dd.textContent = value;
    dd.id = "info-" + key.toLowerCase().replace(/[^a-z0-9]+/g, "-");
    dl.append(dt, dd);
  }
}

async function run(samples) {
  const input = new ort.Tensor("float32", samples, [1, samples.length]);
  const outputs = await session.run({ waveform: input });
  return outputs.clipwise_output.data.slice();
}

async function timeTenSeconds() {
  const n = Math.round(10 * config.sample_rate);
  const noise = new Float32Array(n);
  let seed = 1;
  for (let i = 0; i < n; i++) {  // a deterministic LCG: the same clip on every machine
    seed = (seed * 1664525 + 1013904223) >>> 0;
    noise[i] = (seed / 4294967296 - 0.5) * 0.2;
  }
  await run(noise);  // the first run compiles and allocates
  const start = performance.now();
  await run(noise);
  const ms = performance.now() - start;
  $("info-one-10-s-clip").textContent = `${ms.toFixed(0)} ms (${(10000 / ms).toFixed(1)}x real time)`;
  return ms;
}

// keras_panns.long_audio.window_starts: windows every hop; the last moved back to end with the audio.
function windowStarts(total, window, hop) {
  if (total <= window) return [0];
  const starts = [];
  for (let s = 0; s <= total - window; s += hop) starts.push(s);
  if (starts[starts.length - 1] < total - window) starts.push(total - window);
  return starts;
}

async function tagSamples(samples, name) {
  if (!session) throw new UserError("The model is not loaded yet.");
  if (!(samples instanceof Float32Array)) samples = Float32Array.from(samples);
  if (samples.length === 0) throw new UserError(`${name} holds no audio samples.`);
  if (samples.some((v) => !Number.isFinite(v))) throw new UserError(`${name} has NaN or infinite samples.`);
  if (samples.length < config.min_samples) {
    throw new UserError(`${name} is ${seconds(samples.length)} long; ${config.architecture} needs at least ` +
                        `${seconds(config.min_samples)}.`);
  }
  setState("busy");
  const windowLength = Math.round(config.window_seconds * config.sample_rate);
  const hop = Math.round(config.hop_seconds * config.sample_rate);
  const starts = windowStarts(samples.length, windowLength, hop);
  const length = Math.min(windowLength, samples.length);
  const windowScores = [];
  const began = performance.now();
  for (const [i, start] of starts.entries()) {
    showStatus(`Tagging ${name}: window ${i + 1} of ${starts.length}\u2026`);
    windowScores.push(await run(samples.slice(start, start + length)));
    await new Promise((resolve) => setTimeout(resolve, 0));  // let the progress line paint
  }
  const elapsedMs = performance.now() - began;
  const clipScores = new Float32Array(config.labels.length);
  for (let c = 0; c < clipScores.length; c++) {
    clipScores[c] = Math.max(...windowScores.map((scores) => scores[c]));
  }
  const result = { name, samples, starts, windowScores, clipScores, elapsedMs };
  window.pannsDemo.last = result;
  render(result);
  showStatus("");
  setState("done");
  return result;
}
function topClasses(scores, k) {
  return Array.from(scores.keys()).sort((a, b) => scores[b] - scores[a]).slice(0, k);
}

function render(result) {
  $("results").hidden = false;
  $("result-title").textContent = result.name;
  const windows = result.starts.length;
  $("result-meta").textContent = `${seconds(result.samples.length)} at ${config.sample_rate} Hz; ` +
    (windows === 1 ? "one pass" : `${windows} windows, scores are the maximum over windows`) +
    `; ${result.elapsedMs.toFixed(0)} ms`;
  const list = $("tags");
  list.replaceChildren();
  for (const index of topClasses(result.clipScores, config.top_k)) {
    const score = result.clipScores[index];
    const item = document.createElement("li");
    item.dataset.index = index;
    item.dataset.score = String(score);
    const label = document.createElement("span");
    label.className = "label";
    label.textContent = config.labels[index];
    const track = document.createElement("span");
    const bar = document.createElement("span");
    bar.className = "bar";
    bar.style.display = "block";
    bar.style.width = `${(100 * score).toFixed(1)}%`;
    track.append(bar);
    const value = document.createElement("span");
    value.className = "score";
    value.textContent = score.toFixed(3);
    item.append(label, track, value);
    list.append(item);
  }
  drawTimeline(result);
}

function fitText(ctx, text, width) {
  if (ctx.measureText(text).width <= width) return text;
  while (text.length > 1 && ctx.measureText(text + "\u2026").width > width) text = text.slice(0, -1);
  return text + "\u2026";
}

function drawTimeline(result) {
  const figure = $("timeline-figure");
  figure.hidden = result.starts.length < 2;
  if (figure.hidden) return;
  const canvas = $("timeline");
  const ctx = canvas.getContext("2d");
  const classes = topClasses(result.clipScores, config.top_k);
  const left = 200, top = 10, rowHeight = 32, bottom = 30;
  canvas.height = top + classes.length * rowHeight + bottom;
  const width = canvas.width - left - 10;
  const total = result.samples.length / config.sample_rate;
  const x = (t) => left + (width * t) / total;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.font = "13px system-ui, sans-serif";
  ctx.textBaseline = "middle";
  classes.forEach((c, row) => {
    const y = top + row * rowHeight;
    ctx.fillStyle = "#1d2330";
    ctx.textAlign = "right";
    ctx.fillText(fitText(ctx, config.labels[c], left - 14), left - 8, y + rowHeight / 2);
    result.starts.forEach((start, w) => {
      // Each window's score is drawn from its start to the next window's start (the last to the end).
      const t0 = start / config.sample_rate;
      const t1 = w + 1 < result.starts.length ? result.starts[w + 1] / config.sample_rate : total;
      ctx.fillStyle = `rgba(42, 111, 219, ${result.windowScores[w][c].toFixed(3)})`;
      ctx.fillRect(x(t0), y + 2, Math.max(1, x(t1) - x(t0) - 1), rowHeight - 4);
    });
  });
  ctx.fillStyle = "#5c6677";
  ctx.textAlign = "center";
  const step = total > 120 ? 30 : total > 40 ? 10 : total > 15 ? 5 : 1;
  for (let t = 0; t <= total + 1e-9; t += step) {
    ctx.fillText(`${t} s`, x(t), top + classes.length * rowHeight + bottom / 2);
  }
  $("timeline-caption").textContent = `Timeline of the top ${classes.length} classes: each window of ` +
    `${config.window_seconds} s starts every ${config.hop_seconds} s; darker is a higher score.`;
}

async function decode(bytes, name) {
  if (bytes.byteLength === 0) throw new UserError(`${name} is empty (0 bytes).`);
  // An OfflineAudioContext at the model's rate makes decodeAudioData resample to that rate.
  const context = new OfflineAudioContext(1, 1, config.sample_rate);
  let buffer;
  try {
    buffer = await context.decodeAudioData(bytes);
  } catch (error) {
    throw new UserError(`${name} could not be decoded as audio by this browser (${error.message || error.name}). ` +
                        "Try WAV, FLAC, MP3, Ogg or M4A.");
  }
  return toMono(buffer);
}

function toMono(buffer) {
  // The mean of the channels, as keras_panns.load_audio (librosa) computes it.
  const mono = new Float32Array(buffer.length);
  for (let ch = 0; ch < buffer.numberOfChannels; ch++) {
    const data = buffer.getChannelData(ch);
    for (let i = 0; i < mono.length; i++) mono[i] += data[i];
  }
  if (buffer.numberOfChannels > 1) for (let i = 0; i < mono.length; i++) mono[i] /= buffer.numberOfChannels;
  return mono;
}

async function tagFile(file) {
  try {
    showStatus(`Decoding ${file.name}\u2026`);
    setState("busy");
    const samples = await decode(await file.arrayBuffer(), file.name);
    return await tagSamples(samples, file.name);
  } catch (error) {
    fail(error);
  }
}

async function resample(samples, fromRate) {
  if (fromRate === config.sample_rate) return samples;
  const length = Math.max(1, Math.round((samples.length * config.sample_rate) / fromRate));
  const context = new OfflineAudioContext(1, length, config.sample_rate);
  const buffer = context.createBuffer(1, samples.length, fromRate);
  buffer.copyToChannel(samples, 0);
  const source = context.createBufferSource();
  source.buffer = buffer;
  source.connect(context.destination);
  source.start();
  return (await context.startRendering()).getChannelData(0).slice();
}

const MAX_RECORDING_SECONDS = 120;
let recording = null;

async function startRecording() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    throw new UserError("This browser gives no microphone to this page: recording needs a secure context " +
                        "(https, or http://localhost) and a browser with getUserMedia.");
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false } });
  } catch (error) {
    throw new UserError(`No microphone: ${error.name === "NotAllowedError" ? "permission was refused" :
                        error.message || error.name}.`);
  }
  const context = new AudioContext();
  await context.audioWorklet.addModule("recorder-worklet.js");
  const source = context.createMediaStreamSource(stream);
  const node = new AudioWorkletNode(context, "recorder", { numberOfInputs: 1, numberOfOutputs: 0 });
  const chunks = [];
  let count = 0;
  node.port.onmessage = (event) => {
    chunks.push(event.data);
    count += event.data.length;
    showStatus(`Recording: ${(count / context.sampleRate).toFixed(1)} s (press stop to tag it)`);
    if (count >= MAX_RECORDING_SECONDS * context.sampleRate) stopRecording("the recording reached its limit");
  };
  source.connect(node);
  recording = { stream, context, source, node, chunks, started: Date.now() };
  // A vanished device (unplugged, revoked) ends the track: tag what was recorded rather than lose it.
  for (const track of stream.getAudioTracks()) {
    track.onended = () => stopRecording("the microphone went away");
  }
  $("record").textContent = "stop and tag";
  $("record").classList.add("recording");
  setState("recording");
}

async function stopRecording(reason = null) {
  if (!recording) return;
  const { stream, context, source, node, chunks } = recording;
  recording = null;
  for (const track of stream.getTracks()) { track.onended = null; track.stop(); }
  source.disconnect();
  node.port.onmessage = null;
  const rate = context.sampleRate;
  await context.close();
  $("record").textContent = "record from the microphone";
  $("record").classList.remove("recording");
  const total = chunks.reduce((n, chunk) => n + chunk.length, 0);
  const samples = new Float32Array(total);
  let offset = 0;
  for (const chunk of chunks) { samples.set(chunk, offset); offset += chunk.length; }
  const name = `microphone recording (${(total / rate).toFixed(1)} s at ${rate} Hz` +
               (reason ? `; stopped because ${reason}` : "") + ")";
  try {
    return await tagSamples(await resample(samples, rate), name);
  } catch (error) {
    fail(error);
  }
}

function wireInputs() {
  const file = $("file");
  file.disabled = false;
  file.addEventListener("change", () => { if (file.files.length) tagFile(file.files[0]); file.value = ""; });
  const record = $("record");
  record.disabled = false;
  record.addEventListener("click", async () => {
    try {
      if (recording) await stopRecording();
      else await startRecording();
    } catch (error) {
      fail(error);
    }
  });
  const drop = $("drop");
  for (const type of ["dragenter", "dragover"]) {
    drop.addEventListener(type, (event) => { event.preventDefault(); drop.classList.add("over"); });
  }
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    const files = event.dataTransfer.files;
    if (files.length) tagFile(files[0]);
  });
  $("hint").textContent = `Any length: clips up to ${config.window_seconds} s are tagged as they are, longer ` +
    `ones in ${config.window_seconds}-s windows with a timeline. Audio is resampled to ${config.sample_rate} Hz.`;
}

function toBase64(floats) {
  // For the tests: the samples the model saw, exactly, as little-endian float32 bytes.
  const bytes = new Uint8Array(floats.buffer, floats.byteOffset, floats.byteLength);
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(text);
}

function fromBase64(text) {
  const bytes = Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  return new Float32Array(bytes.buffer);
}

async function main() {
  const missing = missingFeatures();
  if (missing.length) {
    $("fatal").hidden = false;
    $("fatal").textContent = `This page cannot run here: it needs ${missing.join(", ")}.`;
    $("model-info").replaceChildren();
    throw new UserError($("fatal").textContent);
  }
  showStatus("Loading the model\u2026");
  const response = await fetch("model.json");
  if (!response.ok) throw new UserError(`model.json could not be loaded (HTTP ${response.status}).`);
  config = await response.json();
  ort = await import("./ort/ort.wasm.min.mjs");
  ort.env.wasm.wasmPaths = new URL("ort/", location.href).href;
  // Threads need a cross-origin isolated page (COOP/COEP headers), which plain static servers do not send.
  ort.env.wasm.numThreads = self.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1;
  session = await ort.InferenceSession.create(config.file, { executionProviders: ["wasm"],
                                                             graphOptimizationLevel: "all" });
  if (!session.outputNames.includes("clipwise_output")) {
    throw new UserError(`${config.file} has no clipwise_output (it has ${session.outputNames.join(", ")}).`);
  }
  describeModel();
  showStatus("Timing one 10-s clip\u2026");
  const ms = await timeTenSeconds();
  wireInputs();
  showStatus("Ready: drop a file, choose one, or record.");
  setState("ready");
  return { tenSecondMs: ms };
}

window.pannsDemo = {
  ready: main().catch((error) => { fail(error); throw error; }),
  tagSamples,
  toBase64,
  fromBase64,
  last: null,
};
