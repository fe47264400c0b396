// PS trainers benchmark: FTRL and FM rows/s and test metric at np 1 and 2 with 2 servers on
// synthetic data (lib/data/datagen.ts), then SSP (staleness 2) against BSP time-to-metric with
// one slowed worker (--slow-rank 1 --slow-ms 5). Each case is a fresh `shoal train` job (its own
// processes), so JIT and GC state do not leak between cases. Prints a table.
//
//   node dist/bench/ps_algos.js [--rows N] [--keep DIR]
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateDataset } from '../lib/data/datagen.js';
import { main as ftrlMain } from '../lib/trainers/ftrl_cli.js';
import { main as fmMain } from '../lib/trainers/fm_cli.js';

interface CaseResult {
  name: string;
  np: number;
  staleness: string;
  slow: string;
  metric: string;
  value: number;
  trainSeconds: number;
  rowsPerSecond: number;
}

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

async function runCase(algo: 'ftrl' | 'fm', name: string, args: string[], dir: string): Promise<CaseResult> {
  const metricsOut = join(dir, `${name.replace(/\W+/g, '_')}.json`);
  const run = algo === 'ftrl' ? ftrlMain : fmMain;
  const code = await run([...args, '--metrics-out', metricsOut, '--quiet']);
  if (code !== 0) throw new Error(`${name}: exit code ${code}`);
  const m = JSON.parse(readFileSync(metricsOut, 'utf8')) as Record<string, number | string>;
  const metric = algo === 'ftrl' || m['task'] === 'binary' ? 'auc' : 'rmse';
  const np = Number(args[args.indexOf('-np') + 1]);
  const si = args.indexOf('--staleness');
  const slow = args.includes('--slow-rank') ? `rank ${args[args.indexOf('--slow-rank') + 1]} +${args[args.indexOf('--slow-ms') + 1]}ms` : '-';
  return {
    name,
    np,
    staleness: si >= 0 ? String(args[si + 1]) : String(m['staleness']),
    slow,
    metric,
    value: Number(m[metric]),
    trainSeconds: Number(m['train_seconds']),
    rowsPerSecond: Number(m['rows_per_second']),
  };
}

async function bench(): Promise<void> {
  const rows = flag('rows', 100_000);
  const keep = process.argv.indexOf('--keep');
  const dir = keep > 0 ? String(process.argv[keep + 1]) : mkdtempSync(join(tmpdir(), 'shoal-ps-algos-'));
  try {
    const bin = join(dir, 'binary.svm');
    const rat = join(dir, 'ratings.svm');
    await generateDataset({ task: 'binary', rows, features: 100_000, nnz: 20, seed: 1, out: bin, testOut: `${bin}.test`, testFraction: 0.2 });
    await generateDataset({ task: 'ratings', rows, users: 5000, items: 2000, seed: 2, out: rat, testOut: `${rat}.test`, testFraction: 0.2 });
    const ftrl = ['--train', bin, '--test', `${bin}.test`, '--servers', '2', '--hash-bits', '24', '--alpha', '0.1', '--batch', '256'];
    const fm = ['--train', rat, '--test', `${rat}.test`, '--servers', '2', '--epochs', '5', '--batch', '512'];
    const results: CaseResult[] = [];
    for (const np of [1, 2]) results.push(await runCase('ftrl', `ftrl np ${np}`, [...ftrl, '-np', String(np)], dir));
    for (const np of [1, 2]) results.push(await runCase('fm', `fm np ${np}`, [...fm, '-np', String(np)], dir));
    const slow = ['--slow-rank', '1', '--slow-ms', '5'];
    for (const s of ['0', '2']) results.push(await runCase('ftrl', `ftrl np 2 s=${s} slow`, [...ftrl, '-np', '2', '--staleness', s, ...slow], dir));
    for (const s of ['0', '2']) results.push(await runCase('fm', `fm np 2 s=${s} slow`, [...fm, '-np', '2', '--staleness', s, ...slow], dir));

    console.log(`PS trainers, ${rows} synthetic rows (80% train), 2 servers, node ${process.version}, ${cpus().length} cores`);
    console.log('case                      np  staleness  slowed           metric         train s     rows/s');
    for (const r of results) {
      console.log(
        `${r.name.padEnd(26)}${String(r.np).padStart(2)}  ${r.staleness.padEnd(9)}  ${r.slow.padEnd(15)}  ${`${r.metric} ${r.value.toFixed(4)}`.padEnd(13)}  ${r.trainSeconds.toFixed(2).padStart(7)}  ${String(r.rowsPerSecond).padStart(9)}`,
      );
    }
  } finally {
    if (keep < 0) rmSync(dir, { recursive: true, force: true });
  }
}

await bench();
