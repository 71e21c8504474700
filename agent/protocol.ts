// The wire contract between the harness and the agent. Attacks are declarative data; observations are what the
// wire showed, never a judgement (ARCHITECTURE.md "Observation"). Both sides import only types from here.

export const NONCE_HEADER = 'x-meshproof-nonce';

interface AttackBase {
  /** Caller-chosen id, echoed in the observation so a batch can be matched up. */
  id: string;
  /** host:port to connect to (a Service DNS name in a cluster, a loopback port in the lab). */
  dial: string;
  /** Hard limit for the whole attempt, connect to last byte. */
  timeoutMs: number;
}

export interface HttpAttack extends AttackBase {
  kind: 'http';
  /** Host header; defaults to `dial`. */
  authority?: string;
  method?: string;
  /** Path without the nonce; the agent appends `nonce=<fresh>` to the query. */
  path?: string;
  headers?: Record<string, string>;
}

export interface TcpAttack extends AttackBase {
  kind: 'tcp';
  /** How long to wait for the echo after sending the nonce line. */
  readMs?: number;
}

/**
 * Direct TLS to a pod's inbound port with a given client certificate, sending an Istio ALPN so a PERMISSIVE
 * workload cannot route it to its passthrough chain (istio-behaviours.md §4b), then one HTTP request: with TLS
 * 1.3 the server's verdict on the client certificate only arrives after the client has sent data (§4c).
 */
export interface TlsAttack extends AttackBase {
  kind: 'tls';
  /** Leaf first; PEM. Crafted or minted by the harness, never a workload's own key. None: no client certificate. */
  certChainPem?: string;
  keyPem?: string;
  alpn?: string[];
  /** Protocol versions the client offers (an edge's TLS floor, EDGE-002); Node's defaults when unset. */
  minVersion?: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';
  maxVersion?: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';
  /** OpenSSL cipher list the client offers for TLS ≤ 1.2 (weak suites, EDGE-002). */
  ciphers?: string;
  /** Path of the request sent after the handshake (the agent appends the nonce); `/` by default. */
  path?: string;
  /** Method of that request; GET by default (the access matrix sends only GET, HEAD or OPTIONS). */
  method?: string;
  servername?: string;
  /** Host header of the request sent after the handshake. */
  authority?: string;
  /** Keep the server's certificate chain (PEM, leaf first) in the observation (the sweep's SWEEP-CERT). */
  capturePeer?: boolean;
}

/**
 * N requests at concurrency C, bounded by count AND by time (it stops by itself at `timeoutMs`). Runs inside
 * probe pods, so it stays lean: one keep-alive agent, no per-request allocation beyond the request itself.
 */
export interface FloodAttack extends AttackBase {
  kind: 'flood';
  authority?: string;
  path?: string;
  requests: number;
  concurrency: number;
  /** Per request; the whole flood is bounded by `timeoutMs`. */
  requestTimeoutMs: number;
}

export type Attack = HttpAttack | TcpAttack | TlsAttack | FloodAttack;

export interface FloodResult {
  sent: number;
  /** Status code → count; failures by class under `failures`. */
  statuses: Record<string, number>;
  /** 503s carrying Envoy's overflow marks: `x-envoy-overloaded: true` or the overflow body (§5). */
  overflow: { header: number; body: number; either: number };
  /** 503 `no healthy upstream` (every host ejected, §5). */
  noHealthyUpstream: number;
  failures: Record<string, number>;
  /** Which pod answered the 200s (from the echo JSON), to see where traffic went. */
  pods: Record<string, number>;
  latencyMs: { p50: number; p90: number; p99: number; max: number };
  stoppedByDeadline: boolean;
  /** [ms since the flood started, HTTP status or failure class] per answer, the first 5,000 (the overload picture). */
  timeline?: [number, string][];
}

/** How a connection failed, as precisely as the socket API tells it. */
export type FailureClass =
  | 'reset'
  | 'eof'
  | 'refused'
  | 'timeout'
  | 'dns'
  | 'closed-after-handshake'
  | `tls-alert:${string}`
  | 'other';

/** What the echo workload answers to every HTTP request. */
export interface EchoPayload {
  nonce: string | null;
  pod: string;
  namespace: string;
  serviceAccount: string;
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
}

export interface Observation {
  id: string;
  kind: Attack['kind'];
  dial: string;
  /** Fresh per attack; proof of reaching the echo app is getting it back. */
  nonce: string;
  startedAt: string;
  durationMs: number;
  /** The probe's side of the connection (ip:port), to match the destination's access-log record. */
  localAddress?: string;
  /** Bytes read from the socket, whatever they were. */
  bytesReceived: number;
  failure?: { class: FailureClass; code?: string; message: string };
  http?: {
    status: number;
    headers: Record<string, string | string[] | undefined>;
    /** First 4 KiB of the body. */
    body: string;
    /** Parsed when the body is the echo app's JSON. */
    echo?: EchoPayload;
  };
  tcp?: { received: string; nonceEchoed: boolean };
  tls?: { handshake: boolean; protocol?: string; cipher?: string; alpn?: string; alert?: string; peerChainPem?: string[] };
  flood?: FloodResult;
}

/**
 * One exec's input. Attempts run one after another unless `concurrency` says otherwise (a sweep's batch spans many
 * endpoints); `ratePerSec` caps how many attempts start per second across the whole batch. Both are bounded.
 */
export interface ProbeBatch {
  attacks: Attack[];
  concurrency?: number;
  ratePerSec?: number;
}

/** The largest `concurrency` a probe accepts (each attempt holds one socket). */
export const MAX_PROBE_CONCURRENCY = 256;

export interface ProbeReport {
  agent: { version: string; pod: string; uid: number | null };
  observations: Observation[];
}
