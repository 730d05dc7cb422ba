// The upload list survives a reload: each row that has a job (or a final
// state) is kept in the tab's sessionStorage. Jobs live in the server's job
// store, so after a reload — even one after the server restarted, or on
// another web tier behind the same address — the page shows the answers it
// had and follows the jobs still unanswered. Files not uploaded yet cannot
// be kept (the browser gives them back to no one), nor thumbnails.

const KEY = "imgrec.uploads";

// loadRows returns the rows kept: { name, id, state, text, seconds }.
export function loadRows() {
  try {
    const rows = JSON.parse(sessionStorage.getItem(KEY) || "[]");
    return Array.isArray(rows) ? rows.filter((r) => r && typeof r.name === "string" && typeof r.state === "string") : [];
  } catch {
    return [];
  }
}

// saveRows keeps the rows; if storage is off or full, the list lives as long
// as the page.
export function saveRows(rows) {
  try {
    sessionStorage.setItem(KEY, JSON.stringify(rows));
  } catch {
    // nothing to do: a reload then starts with an empty list
  }
}
