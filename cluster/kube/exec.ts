// One command in a pod's container over the exec websocket (v5.channel.k8s.io, or v4 on Kubernetes < 1.30): the
// request is one line on stdin, which stays open until the exit status has arrived. Bounded by a timeout, with a fallback for sockets that close without a status
// (client-node #714); the exit code comes from the V1Status on channel 3.
import { PassThrough, Writable } from 'node:stream';
import { Exec, type KubeConfig, type V1Status } from '@kubernetes/client-node';
import { InfraError, messageOf } from '../../harness/errors.js';
import { retrying } from './retry.js';

export interface ExecResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/** V1Status → exit code: Success is 0; NonZeroExitCode carries it in details.causes[ExitCode]. */
export function exitCodeOf(s: V1Status): number {
  if (s.status === 'Success') return 0;
  const cause = s.details?.causes?.find((c) => c.reason === 'ExitCode');
  const n = Number(cause?.message);
  return Number.isInteger(n) ? n : -1;
}

function sink(): { stream: Writable; text: () => string } {
  const chunks: Buffer[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(Buffer.from(chunk));
      cb();
    },
  });
  return { stream, text: () => Buffer.concat(chunks).toString('utf8') };
}

type ExecOptions = { namespace: string; pod: string; container: string; command: string[]; stdin?: string; timeoutMs: number };

/** The websocket never opened: the command did not start, so trying again cannot run it twice. */
class NotStarted extends Error {
  readonly reason: Error;
  constructor(e: unknown) {
    // client-node rejects with the websocket's ErrorEvent ({ message, error }), not an Error: keep the Error inside,
    // whose message ("Unexpected server response: 503", "socket hang up") and code tell a transient failure.
    const inner = (e as { error?: unknown })?.error;
    const reason = e instanceof Error ? e : inner instanceof Error ? inner : new Error(messageOf(e));
    super(reason.message);
    this.reason = reason;
  }
}

/**
 * One exec. A connection refused or throttled before the command started (429, 5xx, reset on the upgrade) is
 * retried (bounded, with backoff); once the command may have run, nothing is retried.
 */
export async function execInPod(kc: KubeConfig, o: ExecOptions): Promise<ExecResult> {
  const where = `exec in ${o.namespace}/${o.pod} (${o.container}): ${o.command.join(' ')}`;
  let started: unknown;
  try {
    return await retrying(async () => {
      try {
        return await execOnce(kc, o);
      } catch (e) {
        if (e instanceof NotStarted) throw e.reason; // retried when transient
        started = e;
        throw new Error('the command started: not retried');
      }
    });
  } catch (e) {
    if (started !== undefined) throw started;
    throw new InfraError(`${where}: ${messageOf(e).split('\n')[0]}`);
  }
}

function execOnce(kc: KubeConfig, o: ExecOptions): Promise<ExecResult> {
  const out = sink();
  const err = sink();
  const where = `exec in ${o.namespace}/${o.pod} (${o.container}): ${o.command.join(' ')}`;
  return new Promise<ExecResult>((resolve, reject) => {
    let status: V1Status | undefined;
    let settled = false;
    const settle = (f: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      stdin?.end();
      f();
    };
    // One line, and stdin left open: the agent reads to the newline. Ending stdin would make client-node close
    // a v4.channel.k8s.io exec (Kubernetes < 1.30) before the exit status arrives; it is ended once we have it.
    const stdin = o.stdin === undefined ? null : new PassThrough();
    stdin?.write(`${o.stdin}\n`);
    let socket: { close(): void } | undefined;
    const timer = setTimeout(() => {
      socket?.close();
      settle(() => reject(new InfraError(`${where}: no result within ${o.timeoutMs} ms`)));
    }, o.timeoutMs);
    new Exec(kc)
      .exec(o.namespace, o.pod, o.container, o.command, out.stream, err.stream, stdin, false, (s) => {
        status = s;
        settle(() => resolve({ stdout: out.text(), stderr: err.text(), exitCode: exitCodeOf(s) }));
      })
      .then((ws) => {
        socket = ws;
        ws.on('close', () => {
          // The fallback: a socket that closed without a status has no trustworthy result.
          if (!status) settle(() => reject(new InfraError(`${where}: the connection closed without an exit status`)));
        });
      })
      .catch((e: unknown) => settle(() => reject(new NotStarted(e))));
  });
}
