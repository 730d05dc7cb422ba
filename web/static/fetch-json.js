// fetchJSON fetches and decodes; a non-2xx answer throws with the server's
// reason, its status and, if the server asked to be retried later, the
// seconds to wait (Retry-After).
export async function fetchJSON(url, options) {
  const resp = await fetch(url, options);
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) {
    const err = new Error(data.error || `${resp.status} ${resp.statusText}`);
    err.status = resp.status;
    err.retryAfter = Number(resp.headers.get("Retry-After")) || 0;
    throw err;
  }
  return { status: resp.status, data };
}
