// The imgrec page: uploads through the job API, a live view of the system,
// the output bucket, and reset. Names and labels come from users and workers,
// so they are only ever set as text (textContent), never parsed as HTML.

const UPLOADS_AT_ONCE = 4; // parallel POSTs: keep workers fed within the browser's 6 connections per server
const WATCH_WAIT = "2s"; // long poll per watch request; short so new uploads join the watch soon
const POLL_MS = 1000; // the server samples the system once a second
const HIDDEN_POLL_MS = 5000; // a tab nobody looks at polls less
const RESULTS_PER_PAGE = 50;
const RESULTS_REFRESH_MS = 2000; // at most one automatic results refresh this often

const $ = (id) => document.getElementById(id);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

document.documentElement.classList.add("js");

// el builds an element; strings among children become text nodes.
function el(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  Object.assign(e, props);
  e.append(...children);
  return e;
}

function formatBytes(n) {
  for (const [unit, size] of [["GiB", 2 ** 30], ["MiB", 2 ** 20], ["KiB", 2 ** 10]]) {
    if (n >= size) return `${+(n / size).toFixed(1)} ${unit}`;
  }
  return `${n} bytes`;
}

function formatSeconds(s) {
  return s < 1 ? `${Math.round(s * 1000)} ms` : `${s.toFixed(2)} s`;
}

// fetchJSON fetches and decodes; a non-2xx answer throws with the server's reason.
async function fetchJSON(url, options) {
  const resp = await fetch(url, options);
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new Error(data.error || `${resp.status} ${resp.statusText}`);
  return { status: resp.status, data };
}

// ---- Limits ---------------------------------------------------------------

let limits = { max_upload_bytes: Infinity, max_files: 1000, max_watch_ids: 100, reset_enabled: true };

async function loadLimits() {
  try {
    limits = (await fetchJSON("/v1/limits")).data;
  } catch (err) {
    $("limits").textContent = `JPEG or PNG. (Limits unavailable: ${err.message}.)`;
    return;
  }
  const each = [`up to ${formatBytes(limits.max_upload_bytes)}`];
  if (limits.max_pixels) each.push(`${+(limits.max_pixels / 1e6).toFixed(1)} megapixels`);
  $("limits").textContent = `JPEG or PNG, each ${each.join(" and ")}; up to ${limits.max_files.toLocaleString("en")} files in the list, ${UPLOADS_AT_ONCE} uploading at a time.`;
  if (!limits.reset_enabled) {
    for (const id of ["admin-token", "reset-button"]) $(id).disabled = true;
    $("reset-status").textContent = "Reset is off: start imgrec with --admin-token.";
  }
}

// ---- Uploads --------------------------------------------------------------

const rows = []; // every row in the list, in order
const waiting = []; // rows not sent yet
const running = new Map(); // job id → row, uploaded and not yet answered
let uploading = 0;
let generation = 0; // bumped by reset: answers for older uploads are dropped
let watchAbort = null; // cancels the watch long poll on reset

function addFiles(fileList) {
  const files = [...fileList];
  const room = limits.max_files - rows.length;
  if (files.length > room) {
    announce(`Only ${Math.max(room, 0)} of ${files.length} files were added: the list holds ${limits.max_files}. Clear finished files to add more.`, true);
    files.length = Math.max(room, 0);
  }
  const tbody = $("uploads").tBodies[0];
  const fragment = document.createDocumentFragment();
  for (const file of files) {
    const row = { file, url: URL.createObjectURL(file), state: "" };
    row.stateCell = el("td", { className: "state" });
    row.labelCell = el("td", { className: "label" });
    row.latencyCell = el("td", { className: "latency" });
    row.tr = el("tr", {},
      el("td", { className: "thumb" }, el("img", { src: row.url, alt: "", loading: "lazy", decoding: "async" })),
      el("td", { className: "name" }, file.name),
      row.stateCell, row.labelCell, row.latencyCell);
    fragment.append(row.tr);
    rows.push(row);
    if (file.size > limits.max_upload_bytes) {
      finish(row, "failed", `over the ${formatBytes(limits.max_upload_bytes)} upload limit`);
    } else {
      setState(row, "queued");
      waiting.push(row);
    }
  }
  tbody.append(fragment);
  $("uploads-scroll").hidden = rows.length === 0;
  updateProgress();
  pump();
}

function setState(row, state) {
  row.state = state;
  row.tr.dataset.state = state;
  row.stateCell.textContent = state;
}

function finish(row, state, text, seconds) {
  setState(row, state);
  row.labelCell.textContent = text;
  row.latencyCell.textContent = seconds ? formatSeconds(seconds) : "";
  updateProgress();
}

// pump starts uploads while there is room: a few at once, and no more
// unanswered ones than one watch request follows.
function pump() {
  while (waiting.length && uploading < UPLOADS_AT_ONCE && uploading + running.size < limits.max_watch_ids) {
    upload(waiting.shift());
  }
}

async function upload(row) {
  const gen = generation;
  uploading++;
  setState(row, "running");
  try {
    const body = new FormData();
    body.append("file", row.file, row.file.name);
    const { data: job } = await fetchJSON("/v1/jobs", { method: "POST", body });
    if (gen === generation) {
      running.set(job.id, row);
      watch();
    }
  } catch (err) {
    if (gen === generation) finish(row, "failed", err.message);
  } finally {
    if (gen === generation) {
      uploading--;
      pump();
    }
  }
}

// watch follows the unanswered jobs with one long poll at a time.
let watching = false;
async function watch() {
  if (watching) return;
  watching = true;
  const gen = generation;
  watchAbort = new AbortController();
  while (running.size && gen === generation) {
    const ids = [...running.keys()].slice(0, limits.max_watch_ids);
    let answer;
    try {
      answer = (await fetchJSON(`/v1/jobs?wait=${WATCH_WAIT}&ids=${ids.join(",")}`, { signal: watchAbort.signal })).data;
    } catch (err) {
      if (gen !== generation) break;
      announce(`Lost contact with the server (${err.message}); retrying.`, true);
      await sleep(2000);
      continue;
    }
    for (const job of answer.jobs) {
      const row = running.get(job.id);
      if (!row) continue;
      running.delete(job.id);
      finish(row, job.state, job.state === "done" ? job.label : job.error, job.seconds);
    }
    for (const id of answer.unknown) {
      const row = running.get(id);
      running.delete(id);
      if (row) finish(row, "failed", "the server no longer has this job (restarted or reset)");
    }
    pump();
  }
  if (gen === generation) watching = false;
}

// updateProgress sums up the list for everyone, screen readers included
// (the element is a polite live region), at most twice a second.
let progressTimer = null;
let progressError = false;
function updateProgress() {
  if (progressTimer) return;
  progressTimer = setTimeout(() => {
    progressTimer = null;
    const n = { queued: 0, running: 0, done: 0, failed: 0 };
    for (const row of rows) n[row.state]++;
    const finished = n.done + n.failed;
    const text = rows.length === 0 ? "No files yet."
      : `${finished} of ${rows.length} finished: ${n.done} done, ${n.failed} failed, ${n.running} running, ${n.queued} queued.`;
    if (!progressError) $("progress").textContent = text;
    $("clear-finished").disabled = finished === 0;
  }, 500);
}

// announce shows a message in the progress line until the next update.
function announce(text, isError) {
  progressError = isError;
  $("progress").textContent = text;
  $("progress").classList.toggle("error", isError);
  setTimeout(() => {
    progressError = false;
    $("progress").classList.remove("error");
    updateProgress();
  }, 5000);
}

function removeRows(keep) {
  for (let i = rows.length - 1; i >= 0; i--) {
    if (keep(rows[i])) continue;
    URL.revokeObjectURL(rows[i].url);
    rows[i].tr.remove();
    rows.splice(i, 1);
  }
  $("uploads-scroll").hidden = rows.length === 0;
  updateProgress();
}

function setUpUploads() {
  const input = $("files");
  input.addEventListener("change", () => {
    addFiles(input.files);
    input.value = ""; // the same files can be picked again
  });
  $("upload-form").addEventListener("submit", (e) => e.preventDefault());
  $("clear-finished").addEventListener("click", () => removeRows((row) => row.state === "queued" || row.state === "running"));

  // Files may be dropped anywhere, so a near miss never navigates away.
  const zone = $("dropzone");
  const hasFiles = (e) => e.dataTransfer && [...e.dataTransfer.types].includes("Files");
  document.addEventListener("dragover", (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = "copy";
    zone.classList.add("over");
  });
  document.addEventListener("dragleave", (e) => {
    if (e.relatedTarget === null) zone.classList.remove("over");
  });
  document.addEventListener("drop", (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    zone.classList.remove("over");
    addFiles(e.dataTransfer.files);
  });
}

// ---- System panel ---------------------------------------------------------

const SVG = "http://www.w3.org/2000/svg";
const CHART_W = 300;
const CHART_H = 60;

let samples = [];
let lastSeq = 0;
let interval = 1;
let maxSamples = 180; // replaced by the server's window
const MIN_SPAN_MS = 30000; // a young server's charts span its first half minute, not a sliver of the window

// chartSpan is the time the charts cover: what the samples hold, within bounds.
function chartSpan() {
  const held = samples.length ? Date.parse(samples[samples.length - 1].time) - Date.parse(samples[0].time) + interval * 1000 : 0;
  return Math.min(Math.max(held, MIN_SPAN_MS), maxSamples * interval * 1000);
}

function describeSpan(ms) {
  const s = Math.round(ms / 1000);
  return s < 120 ? `${s} seconds` : `${Math.round(s / 60)} minutes`;
}

const charts = {
  depth: { value: (s) => s.depth },
  instances: { value: (s) => s.instances ? s.instances.pending + s.instances.running + s.instances.stopping : null },
  throughput: { value: (s) => s.answered / interval, format: (v) => +v.toFixed(1) },
};

function setUpCharts() {
  for (const [name, chart] of Object.entries(charts)) {
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", `0 0 ${CHART_W} ${CHART_H}`);
    svg.setAttribute("preserveAspectRatio", "none");
    svg.setAttribute("role", "img");
    chart.area = document.createElementNS(SVG, "path");
    chart.area.setAttribute("class", "area");
    chart.line = document.createElementNS(SVG, "path");
    chart.line.setAttribute("class", "line");
    svg.append(chart.area, chart.line);
    chart.svg = svg;
    chart.caption = $(`chart-${name}`).querySelector("figcaption").firstChild.textContent.trim();
    $(`chart-${name}`).append(svg);
  }
}

// drawChart draws values against time over the kept window; a missing
// sample (server unreachable) breaks the line.
function drawChart(name, chart) {
  const now = samples.length ? Date.parse(samples[samples.length - 1].time) : 0;
  const span = chartSpan();
  const points = [];
  for (const s of samples) {
    const v = chart.value(s);
    if (v === null) continue;
    points.push([CHART_W * (1 - (now - Date.parse(s.time)) / span), v]);
  }
  const peak = points.reduce((m, [, v]) => Math.max(m, v), 0);
  const y = (v) => CHART_H - 2 - (v / Math.max(peak, 1)) * (CHART_H - 6);
  let line = "";
  let area = "";
  let start = null;
  let prevX = -Infinity;
  const gap = (CHART_W * interval * 1000 * 2.5) / span;
  const closeArea = () => {
    if (start !== null) area += `L${prevX.toFixed(1)},${CHART_H}L${start.toFixed(1)},${CHART_H}Z`;
  };
  for (const [x, v] of points) {
    const cmd = x - prevX > gap ? "M" : "L";
    if (cmd === "M") {
      closeArea();
      start = x;
      area += `M${x.toFixed(1)},${CHART_H}`;
    }
    line += `${cmd}${x.toFixed(1)},${y(v).toFixed(1)}`;
    area += `L${x.toFixed(1)},${y(v).toFixed(1)}`;
    prevX = x;
  }
  closeArea();
  chart.line.setAttribute("d", line);
  chart.area.setAttribute("d", area);

  const format = chart.format || ((v) => v);
  const current = points.length ? format(points[points.length - 1][1]) : "–";
  $(`${name}-now`).textContent = current;
  $(`${name}-peak`).textContent = points.length ? format(peak) : "–";
  chart.svg.setAttribute("aria-label", points.length
    ? `${chart.caption} over the last ${describeSpan(span)}: now ${current}, peak ${format(peak)}`
    : `${chart.caption}: no data`);
}

function drawSystem() {
  const last = samples[samples.length - 1];
  $("count-depth").textContent = last ? last.depth : "–";
  $("count-dead").textContent = last ? last.dead_letters : "–";
  for (const state of ["pending", "running", "stopping", "stopped"]) {
    $(`count-${state}`).textContent = last && last.instances ? last.instances[state] : "–";
  }
  for (const [name, chart] of Object.entries(charts)) drawChart(name, chart);
}

function systemNote(text, isError) {
  $("system-note").textContent = text;
  $("system-note").classList.toggle("error", isError);
}

async function pollHistory() {
  try {
    const { data } = await fetchJSON(`/v1/history?after=${lastSeq}`);
    interval = data.interval_seconds;
    maxSamples = Math.round(data.window_seconds / interval);
    if (data.samples.length) {
      if (data.samples[0].seq <= lastSeq) samples = []; // the server restarted
      samples.push(...data.samples);
      samples.splice(0, samples.length - maxSamples);
      lastSeq = samples[samples.length - 1].seq;
      drawSystem();
      if (data.samples.some((s) => s.answered > 0)) refreshResultsSoon();
    }
    const last = samples[samples.length - 1];
    systemNote(last && !last.instances
      ? "This web tier cannot see the instances; the controller runs them."
      : `The last ${describeSpan(chartSpan())}, updated every second.`, false);
  } catch (err) {
    systemNote(`System status unavailable (${err.message}); retrying.`, true);
  }
  setTimeout(pollHistory, document.hidden ? HIDDEN_POLL_MS : POLL_MS);
}

// ---- Results --------------------------------------------------------------

const results = { after: "", previous: [], next: "", loading: false, again: false, lastLoad: 0, timer: null };

async function loadResults() {
  if (results.loading) {
    results.again = true;
    return;
  }
  results.loading = true;
  results.lastLoad = Date.now();
  const q = $("results-q").value.trim();
  const params = new URLSearchParams({ limit: RESULTS_PER_PAGE });
  if (results.after) params.set("after", results.after);
  if (q) params.set("q", q);
  const status = $("results-status");
  try {
    const { data } = await fetchJSON(`/v1/results?${params}`);
    const tbody = $("results-table").tBodies[0];
    tbody.replaceChildren(...data.results.map((r) =>
      el("tr", {}, el("td", { className: "name" }, r.key), el("td", { className: "label" }, r.label || r.value))));
    results.next = data.next || "";
    const first = results.previous.length * RESULTS_PER_PAGE;
    status.textContent = data.results.length
      ? `Results ${first + 1}–${first + data.results.length}${results.next ? "" : " (the end)"}${q ? ` matching “${q}”` : ""}.`
      : q ? `No results match “${q}”${results.next ? " on this page; try the next one" : ""}.` : "No results yet.";
    status.classList.remove("error");
  } catch (err) {
    status.textContent = `Could not load results: ${err.message}`;
    status.classList.add("error");
  }
  $("results-next").disabled = !results.next;
  $("results-prev").disabled = results.previous.length === 0;
  results.loading = false;
  if (results.again) {
    results.again = false;
    loadResults();
  }
}

// refreshResultsSoon follows new answers on the first page, at a gentle pace;
// a user reading a later page is not moved.
function refreshResultsSoon() {
  if (results.previous.length || results.timer) return;
  const wait = Math.max(0, results.lastLoad + RESULTS_REFRESH_MS - Date.now());
  results.timer = setTimeout(() => {
    results.timer = null;
    if (!results.previous.length) loadResults();
  }, wait);
}

function firstResultsPage() {
  results.after = "";
  results.previous = [];
  loadResults();
}

function setUpResults() {
  $("results-form").addEventListener("submit", (e) => {
    e.preventDefault();
    firstResultsPage();
  });
  let typing = null;
  $("results-q").addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(firstResultsPage, 300);
  });
  $("results-next").addEventListener("click", () => {
    results.previous.push(results.after);
    results.after = results.next;
    loadResults();
  });
  $("results-prev").addEventListener("click", () => {
    results.after = results.previous.pop() || "";
    loadResults();
  });
}

// ---- Reset ----------------------------------------------------------------

function setUpReset() {
  const dialog = $("reset-dialog");
  $("reset-form").addEventListener("submit", (e) => {
    e.preventDefault();
    dialog.returnValue = "";
    dialog.showModal();
  });
  dialog.addEventListener("close", () => {
    if (dialog.returnValue === "confirm") reset();
  });
}

async function reset() {
  const status = $("reset-status");
  status.classList.remove("error");
  status.textContent = "Resetting…";
  let removed;
  try {
    removed = (await fetchJSON("/v1/reset", {
      method: "POST",
      headers: { Authorization: `Bearer ${$("admin-token").value}` },
    })).data;
  } catch (err) {
    status.textContent = `Reset failed: ${err.message}`;
    status.classList.add("error");
    return;
  }
  // Forget this page's uploads: queued ones are not sent, answers still on
  // their way are dropped.
  generation++;
  if (watchAbort) watchAbort.abort();
  watching = false;
  uploading = 0;
  waiting.length = 0;
  running.clear();
  removeRows(() => false);
  const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;
  status.textContent = `Removed ${plural(removed.inputs, "image", "images")}, ${plural(removed.outputs, "result", "results")}, ` +
    `${plural(removed.queued_requests, "queued request", "queued requests")}, ${plural(removed.dead_letters, "dead letter", "dead letters")} ` +
    `and ${plural(removed.jobs, "job", "jobs")}.`;
  firstResultsPage();
}

// ---- Start ----------------------------------------------------------------

setUpUploads();
setUpCharts();
setUpResults();
setUpReset();
loadLimits();
pollHistory();
firstResultsPage();
