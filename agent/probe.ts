// `probe` mode: run a batch of attacks and report what the wire showed. Runs inside probe pods (a stock Node
// image in a cluster, a child process in the lab), so it uses only node: built-ins.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { NONCE_HEADER } from './protocol.js';
import type { Attack, EchoPayload, FailureClass, HttpAttack, Observation, TcpAttack } from './protocol.js';

const BODY_LIMIT = 4096;

export function splitHostPort(dial: string): { host: string; port: number } {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(dial);
  if (!m) throw new Error(`dial address must be host:port, got ${JSON.stringify(dial)}`);
  return { host: m[1]!, port: Number(m[2]) };
}

/** Maps a socket error to a failure class. ECONNRESET is only `reset` when the socket itself saw it. */
export function failureClassOf(code: string | undefined): FailureClass {
  switch (code) {
    case 'ECONNRESET':
    case 'EPIPE':
      return 'reset';
    case 'ECONNREFUSED':
      return 'refused';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_NONAME':
      return 'dns';
    case 'ETIMEDOUT':
    case 'MESHPROOF_TIMEOUT':
      return 'timeout';
    default:
      return 'other';
  }
}

interface SocketTrace {
  localAddress?: string;
  ended: boolean;
  error?: NodeJS.ErrnoException;
}

function trace(sock: net.Socket): SocketTrace {
  const t: SocketTrace = { ended: false };
  sock.on('connect', () => {
    t.localAddress = `${sock.localAddress}:${sock.localPort}`;
  });
  sock.on('end', () => {
    t.ended = true;
  });
  sock.on('error', (e: NodeJS.ErrnoException) => {
    t.error ??= e;
  });
  return t;
}

/** Decides the failure class from what the socket itself saw, which node:http hides behind "socket hang up". */
function socketFailure(t: SocketTrace, fallback?: NodeJS.ErrnoException): Observation['failure'] {
  if (t.error) return { class: failureClassOf(t.error.code), code: t.error.code, message: t.error.message };
  if (t.ended) return { class: 'eof', message: 'connection closed by peer' };
  const code = fallback?.code;
  return { class: failureClassOf(code), code, message: fallback?.message ?? 'unknown failure' };
}

function parseEcho(body: string): EchoPayload | undefined {
  try {
    const v = JSON.parse(body) as Partial<EchoPayload>;
    if (v && typeof v === 'object' && typeof v.pod === 'string' && 'nonce' in v && typeof v.headers === 'object') {
      return v as EchoPayload;
    }
  } catch {
    // not the echo app's JSON: keep the raw body only
  }
  return undefined;
}

export function httpAttack(a: HttpAttack): Promise<Observation> {
  const nonce = randomUUID();
  const started = new Date();
  const { host, port } = splitHostPort(a.dial);
  const basePath = a.path ?? '/';
  const path = `${basePath}${basePath.includes('?') ? '&' : '?'}nonce=${nonce}`;
  return new Promise((resolve) => {
    let done = false;
    const sock = net.connect({ host, port });
    const t = trace(sock);
    const finish = (o: Partial<Observation>) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve({
        id: a.id,
        kind: 'http',
        dial: a.dial,
        nonce,
        startedAt: started.toISOString(),
        durationMs: Date.now() - started.getTime(),
        localAddress: t.localAddress,
        bytesReceived: sock.bytesRead,
        ...o,
      });
    };
    const timer = setTimeout(() => {
      finish({ failure: { class: 'timeout', message: `no complete answer within ${a.timeoutMs} ms` } });
    }, a.timeoutMs);
    const req = http.request(
      {
        createConnection: () => sock,
        method: a.method ?? 'GET',
        path,
        setHost: false,
        headers: { host: a.authority ?? a.dial, connection: 'close', [NONCE_HEADER]: nonce, ...a.headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        const respond = (failure?: Observation['failure']) => {
          const body = Buffer.concat(chunks).toString('utf8');
          finish({
            http: { status: res.statusCode ?? 0, headers: res.headers, body, echo: parseEcho(body) },
            ...(failure ? { failure } : {}),
          });
        };
        res.on('data', (c: Buffer) => {
          if (size < BODY_LIMIT) chunks.push(c.subarray(0, BODY_LIMIT - size));
          size += c.length;
        });
        res.on('end', () => respond());
        res.on('error', (e: NodeJS.ErrnoException) => respond(socketFailure(t, e)));
      },
    );
    req.on('error', (e: NodeJS.ErrnoException) => {
      finish({ failure: socketFailure(t, e) });
    });
    req.end();
  });
}

export function tcpAttack(a: TcpAttack): Promise<Observation> {
  const nonce = randomUUID();
  const started = new Date();
  const { host, port } = splitHostPort(a.dial);
  return new Promise((resolve) => {
    let done = false;
    let received = '';
    const sock = net.connect({ host, port });
    const t = trace(sock);
    const finish = (failure?: Observation['failure']) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      const nonceEchoed = received.includes(nonce);
      sock.destroy();
      resolve({
        id: a.id,
        kind: 'tcp',
        dial: a.dial,
        nonce,
        startedAt: started.toISOString(),
        durationMs: Date.now() - started.getTime(),
        localAddress: t.localAddress,
        bytesReceived: sock.bytesRead,
        tcp: { received: received.slice(0, BODY_LIMIT), nonceEchoed },
        ...(nonceEchoed ? {} : { failure }),
      });
    };
    const timer = setTimeout(
      () => finish({ class: 'timeout', message: `no echo and no close within ${a.timeoutMs} ms` }),
      a.timeoutMs,
    );
    sock.on('connect', () => sock.write(`${nonce}\n`));
    sock.on('data', (d: Buffer) => {
      received += d.toString('utf8');
      if (received.includes(nonce)) finish();
    });
    sock.on('end', () => finish(socketFailure(t)));
    sock.on('error', () => finish(socketFailure(t)));
  });
}

export async function runAttacks(attacks: Attack[]): Promise<Observation[]> {
  const out: Observation[] = [];
  // Sequential on purpose: attempts in a batch are repetitions (convergence), not load.
  for (const a of attacks) {
    out.push(a.kind === 'http' ? await httpAttack(a) : await tcpAttack(a));
  }
  return out;
}
