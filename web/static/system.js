// The System panel: the queue and the instances now, and charts of the last
// few minutes, from the samples the web tier takes once a second
// (GET /v1/history).

import { $, el } from "./dom.js";
import { fetchJSON } from "./fetch-json.js";
import { describeSpan } from "./format.js";
import { lineChart } from "./chart.js";

const POLL_MS = 1000; // the server samples the system once a second
const HIDDEN_POLL_MS = 5000; // a tab nobody looks at polls less
const MIN_SPAN_MS = 30000; // a young server's charts span its first half minute, not a sliver of the window
const STATES = ["pending", "running", "stopping", "stopped"];

// systemPanel sets the panel up; start begins polling. onAnswers is called
// when new samples show answered requests (new results in the bucket).
export function systemPanel({ onAnswers }) {
  let samples = [];
  let lastSeq = 0;
  let interval = 1;
  let maxSamples = 180; // replaced by the server's window

  const charts = [
    lineChart("depth", { value: (s) => s.depth }),
    lineChart("instances", { value: (s) => s.instances ? s.instances.pending + s.instances.running + s.instances.stopping : null }),
    lineChart("throughput", { value: (s) => s.answered / interval, format: (v) => +v.toFixed(1) }),
  ];

  // chartSpan is the time the charts cover: what the samples hold, within bounds.
  function chartSpan() {
    const held = samples.length ? Date.parse(samples[samples.length - 1].time) - Date.parse(samples[0].time) + interval * 1000 : 0;
    return Math.min(Math.max(held, MIN_SPAN_MS), maxSamples * interval * 1000);
  }

  function draw() {
    const last = samples[samples.length - 1];
    $("count-depth").textContent = last ? last.depth : "–";
    $("count-dead").textContent = last ? last.dead_letters : "–";
    for (const state of STATES) {
      $(`count-${state}`).textContent = last && last.instances ? last.instances[state] : "–";
    }
    drawProviders(last && last.providers);
    const span = chartSpan();
    for (const chart of charts) chart.draw(samples, span, interval);
  }

  // drawProviders fills the table of instances by provider, a row each in
  // name order, shown while there are instances.
  function drawProviders(providers) {
    const names = providers ? Object.keys(providers).sort() : [];
    $("providers").hidden = names.length === 0;
    $("providers").tBodies[0].replaceChildren(...names.map((name) =>
      el("tr", {}, el("th", { scope: "row", textContent: name || "(unnamed)" }),
        ...STATES.map((state) => el("td", { textContent: String(providers[name][state] ?? 0) })))));
  }

  function note(text, isError) {
    $("system-note").textContent = text;
    $("system-note").classList.toggle("error", isError);
  }

  async function poll() {
    try {
      const { data } = await fetchJSON(`/v1/history?after=${lastSeq}`);
      interval = data.interval_seconds;
      maxSamples = Math.round(data.window_seconds / interval);
      if (data.samples.length) {
        if (data.samples[0].seq <= lastSeq) samples = []; // the server restarted
        samples.push(...data.samples);
        samples.splice(0, samples.length - maxSamples);
        lastSeq = samples[samples.length - 1].seq;
        draw();
        if (data.samples.some((s) => s.answered > 0)) onAnswers();
      }
      const last = samples[samples.length - 1];
      note(last && !last.instances
        ? "This web tier cannot see the instances; the controller runs them."
        : `The last ${describeSpan(chartSpan())}, updated every second.`, false);
    } catch (err) {
      note(`System status unavailable (${err.message}); retrying.`, true);
    }
    setTimeout(poll, document.hidden ? HIDDEN_POLL_MS : POLL_MS);
  }

  return { start: poll };
}
