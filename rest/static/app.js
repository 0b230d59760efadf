// The MSaaS web page: upload a song, follow its job, then mix its stems in sync.
// Plain browser JavaScript, no build step. Stems are fetched with the API key (when one is
// set), decoded with the Web Audio API and started on one clock, so they stay in sync.
"use strict";

const POLL_MS = 500;
const START_DELAY_S = 0.05;
const KEY_STORAGE = "msaas-api-key";

const $ = (id) => document.getElementById(id);

// What the page knows; tests read it through window.msaas.
const state = {
  jobId: null,
  context: null,
  stems: [],          // {name, buffer, gain, volume, muted, solo, source, url}
  playing: false,
  startedAt: 0,       // context time at which offset 0 would have played
  offset: 0,          // seconds into the song when paused
  duration: 0,
};

function authHeaders() {
  const key = $("api-key").value.trim();
  return key ? { Authorization: `Bearer ${key}` } : {};
}

async function api(path, options = {}) {
  const response = await fetch(path, {
    ...options,
    headers: { ...authHeaders(), ...(options.headers || {}) },
  });
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try {
      message = (await response.json()).error || message;
    } catch (_) { /* not JSON */ }
    throw new Error(message);
  }
  return response;
}

function showStatus(text, jobState) {
  $("job").hidden = false;
  $("status").textContent = text;
  $("status").dataset.state = jobState;
}

async function loadModels() {
  const select = $("model");
  try {
    const spec = await (await fetch("apiv1/openapi.json")).json();
    const body = spec.paths["/apiv1/separate"].post.requestBody.content["application/json"];
    for (const name of body.schema.properties.model.enum) {
      select.add(new Option(name, name));
    }
  } catch (error) {
    select.add(new Option("default", ""));
  }
}

async function submit() {
  const file = $("file").files[0];
  if (!file) return;
  $("separate").disabled = true;
  resetMixer();
  const form = new FormData();
  form.append("mp3", file);
  for (const field of ["model", "stems", "format"]) {
    if ($(field).value) form.append(field, $(field).value);
  }
  try {
    showStatus("Uploading…", "uploading");
    const answer = await (await api("apiv1/separate", { method: "POST", body: form })).json();
    state.jobId = answer.hash;
    await follow(answer.hash);
  } catch (error) {
    showStatus(`Error: ${error.message}`, "failed");
  } finally {
    $("separate").disabled = false;
  }
}

async function follow(jobId) {
  for (;;) {
    const job = await (await api(`apiv1/status/${jobId}`)).json();
    $("progress").value = job.progress;
    if (job.state === "queued") {
      const where = job.position ? `position ${job.position} in the queue` : "waiting";
      showStatus(`Queued: ${where} (${job.workers} worker(s) alive)`, "queued");
    } else if (job.state === "processing") {
      showStatus(`Separating: ${job.progress}%`, "processing");
    } else if (job.state === "failed") {
      showStatus(`Failed: ${job.reason}`, "failed");
      return;
    } else if (job.state === "done") {
      showStatus("Loading the stems…", "loading");
      await loadStems(jobId, job.tracks, job.options && job.options.format);
      showStatus(`Done: ${job.tracks.length} stems`, "done");
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

// TODO(web): stems are decoded whole (about 210 MB of float samples per stem of a 10-minute
// song); streaming each through an <audio> element and a MediaElementSource would bound that.
async function loadStems(jobId, tracks, format) {
  state.context = state.context || new AudioContext();
  const extension = format || "mp3";
  state.stems = await Promise.all(tracks.map(async (name) => {
    const bytes = await (await api(`apiv1/track/${jobId}/${name}`)).arrayBuffer();
    const url = URL.createObjectURL(new Blob([bytes]));
    const buffer = await state.context.decodeAudioData(bytes);
    const gain = state.context.createGain();
    gain.connect(state.context.destination);
    return { name, buffer, gain, volume: 1, muted: false, solo: false, source: null, url,
             file: `${jobId.slice(0, 12)}-${name}.${extension}` };
  }));
  state.duration = Math.max(...state.stems.map((stem) => stem.buffer.duration));
  renderMixer();
}

function renderMixer() {
  const list = $("stems-list");
  list.replaceChildren();
  for (const stem of state.stems) {
    const row = document.createElement("div");
    row.className = "stem";
    row.dataset.stem = stem.name;
    row.dataset.loaded = String(stem.buffer.duration > 0);
    row.innerHTML = `<span class="name"></span>
      <input type="range" min="0" max="1" step="0.01" value="1" aria-label="volume">
      <button type="button" class="mute" aria-pressed="false">Mute</button>
      <button type="button" class="solo" aria-pressed="false">Solo</button>
      <a class="download">Download</a>`;
    row.querySelector(".name").textContent = stem.name;
    row.querySelector("input").addEventListener("input", (event) => {
      stem.volume = Number(event.target.value);
      applyGains();
    });
    for (const kind of ["mute", "solo"]) {
      const button = row.querySelector(`.${kind}`);
      button.addEventListener("click", () => {
        const key = kind === "mute" ? "muted" : "solo";
        stem[key] = !stem[key];
        button.setAttribute("aria-pressed", String(stem[key]));
        applyGains();
      });
    }
    const link = row.querySelector(".download");
    link.href = stem.url;
    link.download = stem.file;
    list.append(row);
  }
  $("mixer").hidden = false;
  applyGains();
  updateTime();
}

function effectiveGain(stem) {
  const soloing = state.stems.some((other) => other.solo);
  if (stem.muted || (soloing && !stem.solo)) return 0;
  return stem.volume;
}

function applyGains() {
  for (const stem of state.stems) {
    stem.gain.gain.value = effectiveGain(stem);
  }
}

function position() {
  if (!state.playing) return state.offset;
  return Math.min(state.duration, state.context.currentTime - state.startedAt);
}

function play() {
  if (state.playing || !state.stems.length) return;
  state.context.resume();
  const when = state.context.currentTime + START_DELAY_S;
  const offset = state.offset >= state.duration ? 0 : state.offset;
  for (const stem of state.stems) {
    stem.source = state.context.createBufferSource();
    stem.source.buffer = stem.buffer;
    stem.source.connect(stem.gain);
    stem.source.start(when, offset);  // one start time for every stem: they play in sync
  }
  state.startedAt = when - offset;
  state.playing = true;
  $("play").textContent = "Pause";
}

function pause(rewind) {
  if (state.playing) {
    state.offset = position();
    for (const stem of state.stems) stem.source.stop();
    state.playing = false;
  }
  if (rewind) state.offset = 0;
  $("play").textContent = "Play";
  updateTime();
}

function resetMixer() {
  pause(true);
  for (const stem of state.stems) URL.revokeObjectURL(stem.url);
  state.stems = [];
  $("mixer").hidden = true;
}

function clock(seconds) {
  const whole = Math.floor(seconds);
  return `${Math.floor(whole / 60)}:${String(whole % 60).padStart(2, "0")}`;
}

function updateTime() {
  if (state.playing && position() >= state.duration) pause(true);
  $("time").textContent = `${clock(position())} / ${clock(state.duration)}`;
}

function setUp() {
  $("api-key").value = localStorage.getItem(KEY_STORAGE) || "";
  $("api-key").addEventListener("change", () => {
    localStorage.setItem(KEY_STORAGE, $("api-key").value.trim());
  });
  $("file").addEventListener("change", () => { $("separate").disabled = !$("file").files.length; });
  const drop = $("drop");
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    $("file").files = event.dataTransfer.files;
    $("separate").disabled = !$("file").files.length;
  });
  $("separate").addEventListener("click", submit);
  $("play").addEventListener("click", () => (state.playing ? pause(false) : play()));
  $("stop").addEventListener("click", () => pause(true));
  setInterval(updateTime, 250);
  loadModels();
}

window.msaas = {
  state,
  position,
  gains: () => Object.fromEntries(state.stems.map((stem) => [stem.name, stem.gain.gain.value])),
};
setUp();
