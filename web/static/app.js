// The imgrec page: uploads through the job API, a live view of the system,
// the output bucket, and reset, one module each. Names and labels come from
// users and workers, so they are only ever set as text (textContent), never
// parsed as HTML.
//
// This module wires the panels: the limits go to the upload and reset panels,
// answers the system panel sees refresh the results, and a reset empties the
// uploads and the results.

import { fetchJSON } from "./fetch-json.js";
import { uploadPanel } from "./upload.js";
import { systemPanel } from "./system.js";
import { resultsPanel } from "./results.js";
import { resetPanel } from "./reset.js";

document.documentElement.classList.add("js");

const uploads = uploadPanel();
const results = resultsPanel();
const system = systemPanel({ onAnswers: results.refreshSoon });
const reset = resetPanel({
  onReset() {
    uploads.forget();
    results.firstPage();
  },
});

fetchJSON("/v1/limits").then(({ data: limits }) => {
  uploads.showLimits(limits);
  if (!limits.reset_enabled) reset.disable();
}, (err) => uploads.limitsUnavailable(err));
system.start();
results.firstPage();
