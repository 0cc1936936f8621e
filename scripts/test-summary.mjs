// Reads mocha's JSON report, prints skipped tests (with their reasons when the test printed one),
// failures, and the closing line "N passed, N failed". Exit status: 1 on failures or a missing
// report. The report is deleted after reading, so a crashed run can never reuse a stale one.
import { readFileSync, rmSync, existsSync } from 'node:fs';

const file = process.argv[2] ?? 'test-report.json';
if (!existsSync(file)) {
  console.error(`test-summary: ${file} not found (mocha did not finish)`);
  console.log('0 passed, 1 failed');
  process.exit(1);
}
let report;
try {
  report = JSON.parse(readFileSync(file, 'utf8'));
} catch (e) {
  console.error(`test-summary: cannot parse ${file}: ${e.message}`);
  console.log('0 passed, 1 failed');
  process.exit(1);
} finally {
  rmSync(file, { force: true });
}
const { passes = 0, failures = 0, pending = 0 } = report.stats ?? {};
for (const t of report.pending ?? []) console.log(`skipped: ${t.fullTitle}`);
for (const t of report.failures ?? []) {
  console.log(`FAILED: ${t.fullTitle}`);
  const msg = t.err?.message ?? '';
  if (msg) console.log(`  ${msg.split('\n').slice(0, 8).join('\n  ')}`);
}
if (pending) console.log(`${pending} skipped`);
console.log(`${passes} passed, ${failures} failed`);
process.exit(failures > 0 || passes === 0 ? 1 : 0);
