import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    // Tests wait for conditions (a run's exit, a record, a file), never for a fixed time; this is only the guard
    // against a hang, the same for every test, sized for the machine under load (issue 21 item 10: the suite stays
    // green with two lab runs looping beside it, which slows every lab step several times over).
    testTimeout: 300_000,
    hookTimeout: 300_000,
    // Lab runs spawn real processes; two files at a time fit the 2-core machines.
    maxWorkers: 2,
    // Concurrent lab runs inside one file (describe.concurrent): mostly waiting on sockets and timers.
    maxConcurrency: 3,
  },
});
