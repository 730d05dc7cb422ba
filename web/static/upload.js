// The Upload panel: files picked or dropped anywhere on the page become rows,
// uploaded a few at a time through the job API and followed with one long
// poll until each is done or failed. Rows with a job are kept across reloads
// (saved.js).

import { $, el } from "./dom.js";
import { fetchJSON } from "./fetch-json.js";
import { formatBytes, formatSeconds } from "./format.js";
import { loadRows, saveRows } from "./saved.js";

const UPLOADS_AT_ONCE = 4; // parallel POSTs: keep workers fed within the browser's 6 connections per server
const WATCH_WAIT = "2s"; // long poll per watch request; short so new uploads join the watch soon

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// uploadPanel sets the panel up and returns what the page may ask of it:
// showLimits and limitsUnavailable with the answer of GET /v1/limits, and
// forget after a reset.
export function uploadPanel() {
  let limits = { max_upload_bytes: Infinity, max_files: 1000, max_watch_ids: 100 }; // until the server's arrive
  const rows = []; // every row in the list, in order
  const waiting = []; // rows not sent yet
  const running = new Map(); // job id → row, uploaded and not yet answered
  let uploading = 0;
  let generation = 0; // bumped by forget: answers for older uploads are dropped
  let watchAbort = null; // cancels the watch long poll on forget
  let watching = false;
  let progressTimer = null;
  let progressError = false;
  let saveTimer = null;

  function addFiles(fileList) {
    const files = [...fileList];
    const room = limits.max_files - rows.length;
    if (files.length > room) {
      announce(`Only ${Math.max(room, 0)} of ${files.length} files were added: the list holds ${limits.max_files}. Clear finished files to add more.`, true);
      files.length = Math.max(room, 0);
    }
    const fragment = document.createDocumentFragment();
    for (const file of files) {
      const row = makeRow(file.name, file);
      fragment.append(row.tr);
      if (file.size > limits.max_upload_bytes) {
        finish(row, "failed", `over the ${formatBytes(limits.max_upload_bytes)} upload limit`);
      } else {
        setState(row, "queued");
        waiting.push(row);
      }
    }
    $("uploads").tBodies[0].append(fragment);
    $("uploads-scroll").hidden = rows.length === 0;
    updateProgress();
    pump();
  }

  // makeRow adds a row for a file (or, restored after a reload, for a
  // name alone, without its file or thumbnail) and returns it.
  function makeRow(name, file) {
    const row = { name, file, url: file ? URL.createObjectURL(file) : null, state: "", id: null, text: "", seconds: 0 };
    row.stateCell = el("td", { className: "state" });
    row.labelCell = el("td", { className: "label" });
    row.latencyCell = el("td", { className: "latency" });
    row.tr = el("tr", {},
      el("td", { className: "thumb" }, ...(row.url ? [el("img", { src: row.url, alt: "", loading: "lazy", decoding: "async" })] : [])),
      el("td", { className: "name" }, name),
      row.stateCell, row.labelCell, row.latencyCell);
    rows.push(row);
    return row;
  }

  // save keeps the rows that have a job or an answer, at most five times
  // a second.
  function save() {
    if (saveTimer) return;
    saveTimer = setTimeout(() => {
      saveTimer = null;
      saveRows(rows.filter((r) => r.id || r.state === "done" || r.state === "failed").map((r) => ({
        name: r.name, id: r.id, state: r.state, text: r.text, seconds: r.seconds,
      })));
    }, 200);
  }

  // restore brings back the rows of the page before its reload, and
  // follows the jobs still unanswered.
  function restore() {
    const saved = loadRows().slice(0, limits.max_files);
    if (saved.length === 0) return;
    const fragment = document.createDocumentFragment();
    for (const s of saved) {
      const row = makeRow(s.name, null);
      row.id = typeof s.id === "string" ? s.id : null;
      fragment.append(row.tr);
      if (s.state === "done" || s.state === "failed") {
        finish(row, s.state, String(s.text || ""), Number(s.seconds) || 0);
      } else if (row.id) {
        setState(row, "running");
        running.set(row.id, row);
      } else {
        finish(row, "failed", "not uploaded before the page was reloaded; add the file again");
      }
    }
    $("uploads").tBodies[0].append(fragment);
    $("uploads-scroll").hidden = rows.length === 0;
    updateProgress();
    if (running.size) watch();
  }

  function setState(row, state) {
    row.state = state;
    row.tr.dataset.state = state;
    row.stateCell.textContent = state;
  }

  function finish(row, state, text, seconds) {
    setState(row, state);
    row.text = text;
    row.seconds = seconds || 0;
    row.labelCell.textContent = text;
    row.latencyCell.textContent = seconds ? formatSeconds(seconds) : "";
    updateProgress();
    save();
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
        row.id = job.id;
        if (job.state === "done" || job.state === "failed") { // answered at once, from the result cache
          finish(row, job.state, job.state === "done" ? job.label : job.error, job.seconds);
        } else {
          running.set(job.id, row);
          save();
          watch();
        }
      }
    } catch (err) {
      if (gen !== generation) return;
      if (err.status === 503 && err.retryAfter) {
        // Too many uploads in progress on the server: this one waits its
        // turn again, holding its place among the uploads at once.
        announce(`The server is busy (${err.message}); retrying.`, true);
        await sleep(err.retryAfter * 1000);
        if (gen !== generation) return;
        setState(row, "queued");
        waiting.unshift(row);
        updateProgress();
      } else {
        finish(row, "failed", err.message);
      }
    } finally {
      if (gen === generation) {
        uploading--;
        pump();
      }
    }
  }

  // watch follows the unanswered jobs with one long poll at a time.
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
        if (row) finish(row, "failed", "the server no longer has this job (it expired, or was removed by a reset)");
      }
      pump();
    }
    if (gen === generation) watching = false;
  }

  // updateProgress sums up the list for everyone, screen readers included
  // (the element is a polite live region), at most twice a second.
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
      if (rows[i].url) URL.revokeObjectURL(rows[i].url);
      rows[i].tr.remove();
      rows.splice(i, 1);
    }
    $("uploads-scroll").hidden = rows.length === 0;
    updateProgress();
    save();
  }

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

  restore();

  return {
    // showLimits takes the server's limits (GET /v1/limits) and tells the user.
    showLimits(l) {
      limits = l;
      const each = [`up to ${formatBytes(limits.max_upload_bytes)}`];
      if (limits.max_pixels) each.push(`${+(limits.max_pixels / 1e6).toFixed(1)} megapixels`);
      $("limits").textContent = `JPEG or PNG, each ${each.join(" and ")}; up to ${limits.max_files.toLocaleString("en")} files in the list, ${UPLOADS_AT_ONCE} uploading at a time.`;
    },

    // limitsUnavailable says the limits could not be read; the defaults stay.
    limitsUnavailable(err) {
      $("limits").textContent = `JPEG or PNG. (Limits unavailable: ${err.message}.)`;
    },

    // forget drops this page's uploads after a reset: queued ones are not
    // sent, answers still on their way are dropped.
    forget() {
      generation++;
      if (watchAbort) watchAbort.abort();
      watching = false;
      uploading = 0;
      waiting.length = 0;
      running.clear();
      removeRows(() => false);
    },
  };
}
