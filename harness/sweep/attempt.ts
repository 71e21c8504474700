// One attempt of a sweep or an access-matrix cell, as the evidence records it (what came over the wire, never a key).
// Its own leaf module so harness/matrix/types.ts and harness/sweep/report.ts (which carries the matrix) can both use
// it without importing each other.
export interface AttemptSummary {
  dial: string;
  startedAt: string;
  durationMs: number;
  bytesReceived: number;
  status?: number;
  failure?: string;
  tls?: { handshake: boolean; protocol?: string; alpn?: string };
}
