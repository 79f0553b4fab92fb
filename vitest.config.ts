import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 180_000,
    // ffmpeg-heavy files run in parallel worker processes; the pure-core tables are instant.
    pool: 'forks',
    globalSetup: ['test/global-setup.ts'],
  },
});
