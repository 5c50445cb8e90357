// Prints a vitest JSON report as one plain closing line, `<label>: N passed, N failed`
// (`, N skipped` when any were). A missing report means the run never got to testing: a failure.
import { existsSync, readFileSync } from 'node:fs';

const file = process.argv[2] ?? 'test-artifacts/vitest.json';
const label = process.argv[3] ?? 'tests';
if (!existsSync(file)) {
  console.log(`${label}: 0 passed, 1 failed`);
  process.exit(1);
}
const report = JSON.parse(readFileSync(file, 'utf8')) as {
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  numTodoTests: number;
};
const skipped = report.numPendingTests + report.numTodoTests;
console.log(
  `${label}: ${report.numPassedTests} passed, ${report.numFailedTests} failed${skipped > 0 ? `, ${skipped} skipped` : ''}`,
);
