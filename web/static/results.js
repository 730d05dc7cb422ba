// The Results panel: the output bucket (GET /v1/results), a page at a time,
// searchable by name or label.

import { $, el } from "./dom.js";
import { fetchJSON } from "./fetch-json.js";

const RESULTS_PER_PAGE = 50;
const RESULTS_REFRESH_MS = 2000; // at most one automatic results refresh this often

// resultsPanel sets the panel up and returns firstPage, which shows the first
// page afresh, and refreshSoon, which follows new answers.
export function resultsPanel() {
  let after = ""; // the key the page shown starts after
  const previous = []; // the after of each earlier page, for Previous
  let next = "";
  let loading = false;
  let again = false; // load once more when this load is done
  let lastLoad = 0;
  let timer = null;

  async function load() {
    if (loading) {
      again = true;
      return;
    }
    loading = true;
    lastLoad = Date.now();
    const q = $("results-q").value.trim();
    const params = new URLSearchParams({ limit: RESULTS_PER_PAGE });
    if (after) params.set("after", after);
    if (q) params.set("q", q);
    const status = $("results-status");
    try {
      const { data } = await fetchJSON(`/v1/results?${params}`);
      const tbody = $("results-table").tBodies[0];
      tbody.replaceChildren(...data.results.map((r) =>
        el("tr", {}, el("td", { className: "name" }, r.key), el("td", { className: "label" }, r.label || r.value))));
      next = data.next || "";
      const first = previous.length * RESULTS_PER_PAGE;
      status.textContent = data.results.length
        ? `Results ${first + 1}–${first + data.results.length}${next ? "" : " (the end)"}${q ? ` matching “${q}”` : ""}.`
        : q ? `No results match “${q}”${next ? " on this page; try the next one" : ""}.` : "No results yet.";
      status.classList.remove("error");
    } catch (err) {
      status.textContent = `Could not load results: ${err.message}`;
      status.classList.add("error");
    }
    $("results-next").disabled = !next;
    $("results-prev").disabled = previous.length === 0;
    loading = false;
    if (again) {
      again = false;
      load();
    }
  }

  // refreshSoon follows new answers on the first page, at a gentle pace;
  // a user reading a later page is not moved.
  function refreshSoon() {
    if (previous.length || timer) return;
    const wait = Math.max(0, lastLoad + RESULTS_REFRESH_MS - Date.now());
    timer = setTimeout(() => {
      timer = null;
      if (!previous.length) load();
    }, wait);
  }

  function firstPage() {
    after = "";
    previous.length = 0;
    load();
  }

  $("results-form").addEventListener("submit", (e) => {
    e.preventDefault();
    firstPage();
  });
  let typing = null;
  $("results-q").addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(firstPage, 300);
  });
  $("results-next").addEventListener("click", () => {
    previous.push(after);
    after = next;
    load();
  });
  $("results-prev").addEventListener("click", () => {
    after = previous.pop() || "";
    load();
  });

  return { firstPage, refreshSoon };
}
