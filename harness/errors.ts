// Error kinds map one-to-one to exit codes (ARCHITECTURE.md "Data flow"): the CLI prints the message on one line,
// never a stack trace, for anything the user can fix.

/** Bad flags, files or fixtures: the user can fix it. Exit 2. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly exitCode = 2;
}

/** The target could not be built or driven (processes, sockets, API). Exit 3. */
export class InfraError extends Error {
  override readonly name = 'InfraError';
  readonly exitCode = 3;
}

export function messageOf(e: unknown): string {
  if (e instanceof Error) return e.message;
  const m = (e as { message?: unknown } | null)?.message; // an ErrorEvent or other error-like object
  return typeof m === 'string' ? m : String(e);
}

/** Evidence that cannot be trusted (a bundle that does not verify): a gate fails closed on it. Exit 1. */
export class EvidenceError extends Error {
  override readonly name = 'EvidenceError';
  readonly exitCode = 1;
}
