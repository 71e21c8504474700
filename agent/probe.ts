// `probe` mode: run a batch of attacks and report what the wire showed. Runs inside probe pods (a stock Node
// image in a cluster, a child process in the lab), so it uses only node: built-ins.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import { splitHostPort } from './dial.js';
import { floodAttack } from './flood.js';
import { NONCE_HEADER } from './protocol.js';
import { MAX_PROBE_CONCURRENCY } from './protocol.js';
import type { Attack, EchoPayload, FailureClass, HttpAttack, Observation, ProbeBatch, TcpAttack, TlsAttack } from './protocol.js';

const BODY_LIMIT = 4096;

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

/** `ip:port`, with IPv6 in brackets as Envoy writes it. */
export function formatAddress(ip: string | undefined, port: number | undefined): string {
  return ip?.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

interface SocketTrace {
  localAddress?: string;
  ended: boolean;
  error?: NodeJS.ErrnoException;
}

function trace(sock: net.Socket): SocketTrace {
  const t: SocketTrace = { ended: false };
  sock.on('connect', () => {
    // The form Envoy writes in access logs: `[fd00::c]:54616` for IPv6 (istio-behaviours.md §10).
    t.localAddress = formatAddress(sock.localAddress, sock.localPort);
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

/** `ERR_SSL_TLSV1_ALERT_UNKNOWN_CA` → `unknown_ca`: the alert the server sent, as OpenSSL names it. */
export function alertOf(code: string | undefined): string | undefined {
  const m = /^ERR_SSL_(?:SSLV3|TLSV1|TLSV13)_ALERT_([A-Z_]+)$/.exec(code ?? '');
  return m ? m[1]!.toLowerCase() : undefined;
}

/** How an HTTP/1.x answer starts (the status line): anything else on a TLS attempt is raw TCP bytes. */
const HTTP_STATUS_START = Buffer.from('HTTP/');

export function tlsAttack(a: TlsAttack): Promise<Observation> {
  const nonce = randomUUID();
  const started = new Date();
  const { host, port } = splitHostPort(a.dial);
  return new Promise((resolve) => {
    let done = false;
    let handshake = false;
    let received = Buffer.alloc(0);
    let peerChainPem: string[] | undefined;
    let negotiated: { protocol?: string; cipher?: string } = {};
    const raw = net.connect({ host, port });
    const t = trace(raw);
    const s = tls.connect({
      socket: raw,
      ...(a.certChainPem ? { cert: a.certChainPem, key: a.keyPem } : {}),
      ALPNProtocols: a.alpn ?? ['istio-http/1.1'],
      servername: a.servername,
      ...(a.minVersion ? { minVersion: a.minVersion } : {}),
      ...(a.maxVersion ? { maxVersion: a.maxVersion } : {}),
      ...(a.ciphers ? { ciphers: a.ciphers } : {}),
      // The attacker does not care who the server is; the point is what the server does with our certificate.
      rejectUnauthorized: false,
      // A fresh handshake every time: no session resumption may carry an earlier verdict.
      session: undefined,
    });
    const finish = (failure?: Observation['failure']) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      raw.destroy();
      const answer = parseHttpAnswer(received);
      resolve({
        id: a.id,
        kind: 'tls',
        dial: a.dial,
        nonce,
        startedAt: started.toISOString(),
        durationMs: Date.now() - started.getTime(),
        localAddress: t.localAddress,
        bytesReceived: received.length,
        tls: {
          handshake,
          protocol: negotiated.protocol ?? s.getProtocol() ?? undefined,
          cipher: negotiated.cipher,
          alpn: s.alpnProtocol || undefined,
          alert: failure?.class.startsWith('tls-alert:') ? failure.class.slice(10) : undefined,
          ...(peerChainPem ? { peerChainPem } : {}),
        },
        ...(answer ? { http: answer } : {}),
        // Over a TCP chain the answer is raw bytes: only our nonce coming back proves the app (a server-first
        // app's greeting is not access, audit I-H1).
        ...(!answer && handshake ? { tcp: { received: received.toString('utf8').slice(0, BODY_LIMIT), nonceEchoed: received.includes(nonce) } } : {}),
        ...(failure ? { failure } : {}),
      });
    };
    const timer = setTimeout(() => finish({ class: 'timeout', message: `no verdict within ${a.timeoutMs} ms` }), a.timeoutMs);
    s.on('secureConnect', () => {
      handshake = true;
      negotiated = { protocol: s.getProtocol() ?? undefined, cipher: s.getCipher()?.name };
      if (a.capturePeer) peerChainPem = peerChain(s);
      const base = a.path ?? '/';
      s.write(`${a.method ?? 'GET'} ${base}${base.includes('?') ? '&' : '?'}nonce=${nonce} HTTP/1.1\r\nhost: ${a.authority ?? a.dial}\r\n${NONCE_HEADER}: ${nonce}\r\nconnection: close\r\n\r\n`);
    });
    s.on('data', (d: Buffer) => {
      received = Buffer.concat([received, d]).subarray(0, 4 * BODY_LIMIT);
      // Over a TCP chain the app (an echo) keeps the connection open after sending our nonce back: that nonce is
      // the whole proof of access (nonceEchoed below), so the attempt ends there instead of at its timeout. An
      // HTTP answer (a status line first) is read to its end, as before: its status and body are judged.
      if (!received.subarray(0, 5).equals(HTTP_STATUS_START) && received.includes(nonce)) finish();
    });
    s.on('end', () => {
      if (received.length > 0) finish();
      else finish({ class: handshake ? 'closed-after-handshake' : 'eof', message: handshake ? 'closed after the handshake, no application bytes' : 'closed during the handshake' });
    });
    s.on('error', (e: NodeJS.ErrnoException) => {
      const alert = alertOf(e.code);
      if (alert) finish({ class: `tls-alert:${alert}`, code: e.code, message: e.message });
      else if (handshake && (e.code === 'ECONNRESET' || e.code === 'EPIPE') && received.length === 0) {
        finish({ class: 'closed-after-handshake', code: e.code, message: 'reset after the handshake, no application bytes' });
      } else finish(socketFailure(t, e));
    });
  });
}

/**
 * The HTTP/1.1 answer read off a TLS socket: status, headers, the body de-chunked (Envoy re-chunks what it
 * relays), and the echo JSON when the app answered. Undefined when no status line came back.
 */
export function parseHttpAnswer(raw: Buffer): Observation['http'] {
  const text = raw.toString('utf8');
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(text);
  if (!status) return undefined;
  const split = text.indexOf('\r\n\r\n');
  const head = split < 0 ? text : text.slice(0, split);
  const headers: Record<string, string> = {};
  for (const line of head.split('\r\n').slice(1)) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  let body = split < 0 ? '' : text.slice(split + 4);
  if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
    let out = '';
    let rest = body;
    for (;;) {
      const nl = rest.indexOf('\r\n');
      const size = nl < 0 ? Number.NaN : Number.parseInt(rest.slice(0, nl), 16);
      if (!(size > 0)) break;
      out += rest.slice(nl + 2, nl + 2 + size);
      rest = rest.slice(nl + 2 + size + 2);
    }
    body = out;
  }
  body = body.slice(0, BODY_LIMIT);
  return { status: Number(status[1]), headers, body, echo: parseEcho(body) };
}

/** The server's chain as it sent it, leaf first, PEM (what SWEEP-CERT judges). */
function peerChain(s: tls.TLSSocket): string[] {
  const out: string[] = [];
  let c: tls.DetailedPeerCertificate | undefined = s.getPeerCertificate(true);
  const seen = new Set<string>();
  while (c?.raw && !seen.has(c.fingerprint256)) {
    seen.add(c.fingerprint256);
    const b64 = c.raw.toString('base64').replace(/(.{64})/g, '$1\n');
    out.push(`-----BEGIN CERTIFICATE-----\n${b64.replace(/\n$/, '')}\n-----END CERTIFICATE-----\n`);
    c = c.issuerCertificate;
  }
  return out;
}

function runOne(a: Attack): Promise<Observation> {
  if (a.kind === 'http') return httpAttack(a);
  if (a.kind === 'tcp') return tcpAttack(a);
  if (a.kind === 'tls') return tlsAttack(a);
  return floodAttack(a);
}

/**
 * Runs a batch. By default one attempt after another: attempts in a check's batch are repetitions (convergence),
 * not load. A sweep's batch spans many endpoints and asks for bounded concurrency and a rate cap; the order of
 * the observations is always the order of the attacks.
 */
export async function runAttacks(attacks: Attack[], opts: Omit<ProbeBatch, 'attacks'> = {}): Promise<Observation[]> {
  const concurrency = Math.max(1, Math.min(MAX_PROBE_CONCURRENCY, Math.floor(opts.concurrency ?? 1)));
  const gapMs = opts.ratePerSec && opts.ratePerSec > 0 ? 1000 / opts.ratePerSec : 0;
  const out: Observation[] = new Array(attacks.length);
  let next = 0;
  let nextStart = Date.now();
  const worker = async () => {
    while (next < attacks.length) {
      const i = next++;
      if (gapMs > 0) {
        // Each attempt takes the next start slot: the whole batch never starts more than ratePerSec per second.
        const at = nextStart;
        nextStart = Math.max(Date.now(), at) + gapMs;
        const wait = at - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
      out[i] = await runOne(attacks[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, attacks.length) }, worker));
  return out;
}
