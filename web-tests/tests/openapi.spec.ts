import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test, expect } from '@playwright/test';
import { documentPath, webTests } from '../fixtures/paths';

test('the committed OpenAPI document passes Redocly\'s recommended lint rules with no errors', () => {
  const redocly = join(webTests, 'node_modules', '.bin', 'redocly');
  const result = spawnSync(redocly, ['lint', documentPath, '--format=json'], {
    cwd: webTests, // redocly.yaml: the recommended rules
    encoding: 'utf8',
    env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
  });
  const report = JSON.parse(result.stdout) as { totals: { errors: number; warnings: number }; problems: { ruleId: string; severity: string; message: string; location: { pointer: string }[] }[] };
  const listed = report.problems.map((p) => `${p.severity} ${p.ruleId} at ${p.location[0]?.pointer}: ${p.message}`).join('\n');
  test.info().annotations.push({ type: 'lint', description: `${report.totals.errors} errors, ${report.totals.warnings} warnings\n${listed}` });
  expect(report.totals.errors, listed).toBe(0);
  expect(result.status, result.stderr).toBe(0);
});
