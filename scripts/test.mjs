// `npm test`: compiles the TypeScript, runs ava with TAP output, echoes it, and closes with
// the one line CI reads: "N passed, N failed". Exit code is ava's.
import { spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';

const tsc = spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'], { stdio: 'inherit' });
if (tsc.status !== 0) {
  console.log('0 passed, 1 failed');
  process.exit(tsc.status ?? 1);
}
const ava = spawn(process.execPath, ['node_modules/ava/entrypoints/cli.mjs', '--tap', ...process.argv.slice(2)], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
let passed = 0;
let failed = 0;
let skipped = 0;
const lines = createInterface({ input: ava.stdout });
lines.on('line', (line) => {
  console.log(line);
  if (/^ok \d+/.test(line)) {
    if (/# SKIP/i.test(line)) skipped++;
    else passed++;
  } else if (/^not ok \d+/.test(line)) {
    if (/# TODO/i.test(line)) skipped++;
    else failed++;
  }
});
ava.on('close', (code) => {
  const failedTotal = failed + (code !== 0 && failed === 0 ? 1 : 0);
  console.log(`${passed} passed, ${failedTotal} failed${skipped ? `, ${skipped} skipped` : ''}`);
  process.exit(code ?? 1);
});
