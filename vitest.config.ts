import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Broker and pty tests start real processes; two cores do not like 8 forks of them at once.
    maxWorkers: 2,
    reporters: ['default'],
  },
});
