import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // End-to-end tests run whole simulated calls over loopback; each file gets its own servers and database.
    testTimeout: 20_000,
    hookTimeout: 20_000,
    pool: 'forks',
  },
});
