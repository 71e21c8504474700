// A dial address (`host:port`, `[v6]:port`) as the agent's attacks name their destination. Its own module so the
// probe and the flood both use it without importing each other.

export function splitHostPort(dial: string): { host: string; port: number } {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(dial);
  if (!m) throw new Error(`dial address must be host:port, got ${JSON.stringify(dial)}`);
  return { host: m[1]!, port: Number(m[2]) };
}
