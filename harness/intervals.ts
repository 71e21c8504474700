// In-flight counting from per-request intervals (RES-001): each echo replica reports [start, end] of every
// request it served; merging them across replicas gives what the backend as a whole held at once. Adding
// per-replica peaks would overcount (two requests in a row on two replicas are never concurrent). Pure.

/** The largest number of intervals open at one instant. Intervals are half-open [start, end): one ending at t does not overlap one starting at t. */
export function maxConcurrent(intervals: readonly (readonly [number, number])[]): number {
  const events: [number, number][] = [];
  for (const [s, e] of intervals) {
    if (!(e >= s)) continue;
    events.push([s, 1], [e, -1]);
  }
  // At the same instant, ends before starts.
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let open = 0;
  let max = 0;
  for (const [, d] of events) {
    open += d;
    if (open > max) max = open;
  }
  return max;
}

/**
 * The backend's in-flight count over time, as steps [ms since the first request started, count], for the overload
 * picture (at most 2,000 steps).
 */
export function inFlightSeries(intervals: readonly (readonly [number, number])[]): [number, number][] {
  const events: [number, number][] = [];
  for (const [s, e] of intervals) if (e >= s) events.push([s, 1], [e, -1]);
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const t0 = events[0]?.[0] ?? 0;
  let open = 0;
  const out: [number, number][] = [];
  for (const [t, d] of events) {
    open += d;
    if (out.length < 2_000) out.push([Math.round((t - t0) * 10) / 10, open]);
  }
  return out;
}
