// How far apart the final test RMSE of identical FM jobs lands, with the small-op fast path on
// and off (SHOAL_SYNC_WAIT_US=0, alternating run by run): the settings of
// test/multiproc/chaos_ps_trainers.test.ts's FM tests (np 3, 2 servers, k 4, 20 epochs,
// staleness 0) on planted ratings of the same shape. Prints one line per run (final RMSE and
// the test RMSE after epochs 5 and 10: a late escape from the rank-3 plateau, ~0.33, is what
// moves the final number; docs/fm.md, "The AdaGrad plateau") and a summary per mode. LR (default 0.1),
// SEED of the ratings (default 11; 23 is the chaos test's set), INITSTD (default 0.1), NP
// (default 3), EPOCHS (default 20) and EXTRA (flags replacing "--batch 64 --staleness 0")
// come from the environment (with "--task binary" in EXTRA the AUC is printed instead);
// fm.test.ts's prefetch run is
//   NP=2 EPOCHS=15 INITSTD=0.01 EXTRA="--staleness 1 --prefetch" LR=0.2 node bench/fm_rmse_spread.mjs 10
//   npm run build && LR=0.2 SEED=23 node bench/fm_rmse_spread.mjs [runs=20]
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { startJob } from '../dist/lib/launcher.js';
import { plantedRatings } from '../dist/test/helpers/planted_fm.js';

const runs = Number(process.argv[2] ?? 20);
const worker = fileURLToPath(new URL('../dist/test/workers/fm.worker.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'shoal-fm-spread-'));
const env = (name, fallback) => process.env[name] ?? fallback;
const [train, test] = plantedRatings(300, 200, 24000, 4000, 0.2, Number(env('SEED', '11')));
writeFileSync(join(dir, 'fm.train'), train);
writeFileSync(join(dir, 'fm.test'), test);
const args = ['--train', join(dir, 'fm.train'), '--test', join(dir, 'fm.test'), '--factors', '4', '--epochs', env('EPOCHS', '20'), '--lr', env('LR', '0.1'), '--l2', '0.01', '--init-std', env('INITSTD', '0.1'), ...env('EXTRA', '--batch 64 --staleness 0').split(' ').filter(Boolean)];

const finals = { on: [], off: [] };
const metric = args.includes('binary') ? 'auc' : 'rmse';
for (let i = 0; i < runs; i++) {
  const mode = i % 2 ? 'off' : 'on';
  const lines = [];
  const metrics = join(dir, `m${i}.json`);
  const job = startJob({
    np: Number(env('NP', '3')),
    servers: 2,
    command: [process.execPath, worker, ...args, '--metrics-out', metrics],
    quiet: true,
    noDashboard: true,
    onDashboard: () => undefined,
    killGraceMs: 1000,
    timeoutMs: 120_000,
    env: mode === 'off' ? { SHOAL_SYNC_WAIT_US: '0' } : {},
    onLine: (rank, _stream, line) => rank === 0 && lines.push(line),
  });
  const load = loadavg()[0].toFixed(1);
  const result = await job.result;
  const epoch = (e) => (lines.find((l) => l.startsWith(`fm epoch ${e}/`)) ?? '').replace(/.*test (rmse|auc) ([0-9.]+).*/, '$2') || '?';
  let rmse = NaN;
  try {
    // --task binary (in EXTRA): the AUC in its place.
    const m = JSON.parse(readFileSync(metrics, 'utf8'));
    rmse = m.rmse ?? m.auc;
  } catch {
    // the job failed: reported below
  }
  finals[mode].push(rmse);
  console.log(`${mode} run ${i}: ${result.ok ? 'ok' : result.summary} ${metric} ${rmse.toFixed(5)}  epoch 5 ${epoch(5)}  epoch 10 ${epoch(10)}  (load ${load})`);
}
for (const [mode, xs] of Object.entries(finals)) {
  const sorted = [...xs].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  const off = xs.filter((x) => !(Math.abs(x - median) <= 0.005)).length;
  console.log(`${mode}: ${xs.length} runs, ${metric} min ${sorted[0]?.toFixed(5)} median ${median?.toFixed(5)} max ${sorted.at(-1)?.toFixed(5)}; ${off} more than 0.005 from the median`);
}
rmSync(dir, { recursive: true, force: true });
