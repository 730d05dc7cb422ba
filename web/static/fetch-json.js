// fetchJSON fetches and decodes; a non-2xx answer throws with the server's reason.
export async function fetchJSON(url, options) {
  const resp = await fetch(url, options);
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new Error(data.error || `${resp.status} ${resp.statusText}`);
  return { status: resp.status, data };
}
