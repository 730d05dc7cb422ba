// Numbers as the page shows them.

export function formatBytes(n) {
  for (const [unit, size] of [["GiB", 2 ** 30], ["MiB", 2 ** 20], ["KiB", 2 ** 10]]) {
    if (n >= size) return `${+(n / size).toFixed(1)} ${unit}`;
  }
  return `${n} bytes`;
}

export function formatSeconds(s) {
  return s < 1 ? `${Math.round(s * 1000)} ms` : `${s.toFixed(2)} s`;
}

// describeSpan says how long a span of milliseconds is, in words.
export function describeSpan(ms) {
  const s = Math.round(ms / 1000);
  return s < 120 ? `${s} seconds` : `${Math.round(s / 60)} minutes`;
}
