// The meshproof agent: one file, two modes. `echo` is the target app; `probe` runs attacks.
//   node agent.mjs echo [--http-port 8080] [--tcp-port 9000] [--tcp-banner TEXT]
//   node agent.mjs probe '<json batch>'      (or the batch on stdin)
//   node agent.mjs probe --idle               (keeps a probe pod alive between execs)
// In the lab, MESHPROOF_LAB=1 binds loopback ephemeral ports, prints them, and exits when stdin closes so that
// no process outlives the lab.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { startEcho } from './echo.js';
import { mint, parseMintExecRequest } from './mint.js';
import { runAttacks } from './probe.js';
import { createInterface } from 'node:readline';
import type { ProbeBatch, ProbeReport } from './protocol.js';

export const AGENT_VERSION = '0.1.0';

function flag(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(name);
  if (i < 0) return fallback;
  const v = Number(args[i + 1]);
  if (!Number.isInteger(v) || v < 0 || v > 65535) throw new Error(`${name} needs a port number`);
  return v;
}

function textFlag(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const v = args[i + 1];
  if (!v || /[\r\n]/.test(v)) throw new Error(`${name} needs one line of text`);
  return v;
}

/**
 * The request on stdin is self-delimiting: one line of JSON. The agent stops reading at the newline (or at EOF),
 * so the caller never has to close stdin: over `v4.channel.k8s.io` (Kubernetes < 1.30) closing stdin makes
 * client-node close the whole exec and lose its exit status (istio-behaviours.md §10).
 */
async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) {
    const b = c as Buffer;
    const nl = b.indexOf(0x0a);
    if (nl >= 0) {
      chunks.push(b.subarray(0, nl));
      process.stdin.destroy();
      break;
    }
    chunks.push(b);
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function main(argv: string[]): Promise<number> {
  const [mode, ...args] = argv;
  const lab = process.env.MESHPROOF_LAB === '1';
  if (mode === 'echo') {
    const servers = await startEcho({
      httpPort: lab ? 0 : flag(args, '--http-port', 8080),
      tcpPort: lab ? 0 : flag(args, '--tcp-port', 9000),
      tcpBanner: textFlag(args, '--tcp-banner'),
      host: lab ? '127.0.0.1' : '0.0.0.0',
      pod: process.env.POD_NAME ?? 'unknown',
      namespace: process.env.POD_NAMESPACE ?? 'unknown',
      serviceAccount: process.env.SERVICE_ACCOUNT ?? 'unknown',
      adminToken: process.env.MESHPROOF_ADMIN_TOKEN || undefined,
    });
    // Declared container ports, so the lab can map them to the ephemeral ones actually bound.
    const declared = { http: flag(args, '--http-port', 8080), tcp: flag(args, '--tcp-port', 9000) };
    process.stdout.write(
      `${JSON.stringify({ ready: { [declared.http]: servers.ports.http, [declared.tcp]: servers.ports.tcp } })}\n`,
    );
    if (lab) process.stdin.on('end', () => process.exit(0)).resume();
    for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => void servers.close().then(() => process.exit(0)));
    return -1; // keep running
  }
  if (mode === 'echo-host' && lab) {
    // The lab only: one process serving the echo app of many pods (a sweep's estate), each on its own loopback
    // ports with its own identity, so a thousand-pod estate fits one machine. The first stdin line lists the pods;
    // the process exits when stdin closes, like every lab process.
    const lines = createInterface({ input: process.stdin });
    const first = await new Promise<string>((resolve) => lines.once('line', resolve));
    const pods = JSON.parse(first) as { name: string; namespace: string; serviceAccount: string; httpPort: number; tcpPort: number; tcpBanner?: string }[];
    const ready: Record<string, Record<number, number>> = {};
    const servers = await Promise.all(
      pods.map(async (p) => {
        const s = await startEcho({ httpPort: 0, tcpPort: 0, tcpBanner: p.tcpBanner, host: '127.0.0.1', pod: p.name, namespace: p.namespace, serviceAccount: p.serviceAccount, adminToken: process.env.MESHPROOF_ADMIN_TOKEN || undefined });
        ready[`${p.namespace}/${p.name}`] = { [p.httpPort]: s.ports.http, [p.tcpPort]: s.ports.tcp };
        return s;
      }),
    );
    process.stdout.write(`${JSON.stringify({ ready })}\n`);
    lines.once('close', () => process.exit(0));
    for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => void Promise.all(servers.map((s) => s.close())).then(() => process.exit(0)));
    return -1;
  }
  if (mode === 'probe') {
    if (args[0] === '--idle') {
      if (lab) process.stdin.on('end', () => process.exit(0)).resume();
      setInterval(() => {}, 1 << 30);
      return -1;
    }
    const text = args[0] ?? (await readStdin());
    // The batch carries the attack certificates' private keys (the matrix: every identity's): a parse error must not
    // quote the input, as JSON.parse's message does (M22-L2).
    let batch: ProbeBatch;
    try {
      batch = JSON.parse(text) as ProbeBatch;
    } catch {
      throw new Error('probe: the batch on stdin is not JSON');
    }
    if (!Array.isArray(batch.attacks)) throw new Error('probe input must be {"attacks": [...]}');
    const report: ProbeReport = {
      agent: { version: AGENT_VERSION, pod: process.env.POD_NAME ?? 'unknown', uid: process.getuid?.() ?? null },
      observations: await runAttacks(batch.attacks, { concurrency: batch.concurrency, ratePerSec: batch.ratePerSec }),
    };
    process.stdout.write(`${JSON.stringify(report)}\n`);
    return 0;
  }
  if (mode === 'mint') {
    // A genuine certificate from istiod's CA: for this pod's own identity with the pod's own projected token
    // (`tokenPath`), or for the identity of a TokenRequest token the harness handed over in the request (`token`).
    const { tokenPath, token: given, ...req } = parseMintExecRequest(await readStdin());
    const token = given ?? readFileSync(tokenPath!, 'utf8').trim();
    process.stdout.write(`${JSON.stringify(await mint({ ...req, token }))}\n`);
    return 0;
  }
  if (mode === 'admin') {
    // Inside an echo pod: the harness-only control endpoint, with the pod's own token (kubectl exec).
    const path = args[0] ?? '';
    if (!path.startsWith('/admin/')) throw new Error('admin needs a path under /admin/');
    const port = flag(args, '--port', 8080);
    const body = await new Promise<string>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port, path, headers: { 'x-meshproof-admin': process.env.MESHPROOF_ADMIN_TOKEN ?? '' }, timeout: 5_000 }, (res) => {
          let b = '';
          res.on('data', (d: Buffer) => {
            b += d.toString();
          });
          res.on('end', () => resolve(b));
        })
        .on('error', reject);
    });
    process.stdout.write(`${body}\n`);
    return 0;
  }
  process.stderr.write('usage: agent.mjs echo [--http-port N] [--tcp-port N] [--tcp-banner TEXT] | probe [JSON|--idle] | admin /admin/<op> [--port N]\n');
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`agent: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 2;
  },
);
