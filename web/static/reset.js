// The Reset panel: with the admin token and a confirmation in the page's own
// dialog, POST /v1/reset, then say what it removed.

import { $ } from "./dom.js";
import { fetchJSON } from "./fetch-json.js";

const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;

// resetPanel sets the panel up; onReset is called after a reset succeeds, for
// the rest of the page to empty itself. disable turns the panel off when the
// server has no admin token.
export function resetPanel({ onReset }) {
  const status = $("reset-status");
  const dialog = $("reset-dialog");

  async function reset() {
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
    status.textContent = `Removed ${plural(removed.inputs, "image", "images")}, ${plural(removed.outputs, "result", "results")}, ` +
      `${plural(removed.queued_requests, "queued request", "queued requests")}, ${plural(removed.dead_letters, "dead letter", "dead letters")} ` +
      `and ${plural(removed.jobs, "job", "jobs")}.`;
    onReset();
  }

  $("reset-form").addEventListener("submit", (e) => {
    e.preventDefault();
    dialog.returnValue = "";
    dialog.showModal();
  });
  dialog.addEventListener("close", () => {
    if (dialog.returnValue === "confirm") reset();
  });

  return {
    disable() {
      for (const id of ["admin-token", "reset-button"]) $(id).disabled = true;
      status.textContent = "Reset is off: start imgrec with --admin-token.";
    },
  };
}
