import { defineConfig } from '@playwright/test';

/**
 * Two projects:
 * - browser: the dashboard driven in Debian's Chromium (/usr/bin/chromium; Playwright's own browser builds are not
 *   downloaded), against the built server started by fixtures/gateway.ts;
 * - sdk: the TypeScript client generated from openapi/v1.json (global-setup.ts) run against the same kind of
 *   server, its type check, the OpenAPI lint, and amqplib (a second AMQP client language) against the AMQP listener.
 * JUnit XML goes to $JUNIT_FILE (default test-results/junit.xml) for .ci/test.sh's summary line.
 */
export default defineConfig({
  testDir: './tests',
  globalSetup: './global-setup.ts',
  // Two cores shared with the build and the other test projects: one worker, one browser at a time.
  workers: 1,
  fullyParallel: false,
  forbidOnly: Boolean(process.env.CI),
  retries: 0,
  timeout: 60_000,
  expect: { timeout: 10_000 },
  outputDir: 'test-results/artifacts',
  reporter: [
    ['list'],
    ['junit', { outputFile: process.env.JUNIT_FILE ?? 'test-results/junit.xml' }],
  ],
  use: {
    browserName: 'chromium',
    headless: true,
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: [
        '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
      ],
    },
    viewport: { width: 1280, height: 860 },
    screenshot: 'only-on-failure',
    // Traces help locally (npx playwright show-trace); CI keeps only its log, so it skips recording them.
    trace: process.env.CI ? 'off' : 'retain-on-failure',
    actionTimeout: 10_000,
  },
  projects: [
    { name: 'browser', testMatch: /dashboard.*\.spec\.ts$/ },
    // Matched on the file name only: a checkout folder named e.g. wt-amqp must not pull every spec in.
    { name: 'sdk', testMatch: /(^|\/)(sdk|openapi|amqp)[^/]*\.spec\.ts$/ },
  ],
});
