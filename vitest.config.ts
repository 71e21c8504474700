import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Lab runs spawn real processes; two files at a time fit the 2-core machines.
    maxWorkers: 2,
    // Concurrent lab runs inside one file (describe.concurrent): mostly waiting on sockets and timers.
    maxConcurrency: 3,
  },
});
