// SSP client cache benchmark (lib/ps/ssp_cache.ts): FTRL and FM at np 2 with 2 servers on the
// synthetic data of bench/ps_algos.ts, without the cache and with --ps-cache S, the cases
// alternating --repeat times (medians). Traffic (metrics.json `traffic`, all workers): pull
// requests, keys pulled and pushed per row; CPU: the workers' process CPU per row in training;
// time: rank 0's train seconds; quality: test AUC / RMSE.
//
//   node dist/bench/ps_cache.js [--rows 100000] [--repeat 3] [--staleness 1,2]
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateDataset } from '../lib/data/datagen.js';
import { main as ftrlMain } from '../cli/trainers/ftrl_cli.js';
import { main as fmMain } from '../cli/trainers/fm_cli.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

const rows = Number(arg('rows', '100000'));
const repeat = Number(arg('repeat', '3'));
const stalenesses = arg('staleness', '1,2').split(',').map(Number);

interface Run {
  metric: number;
  trainSeconds: number;
  rowsPerSecond: number;
  pullRequests: number;
  keysPulledPerRow: number;
  keysPushedPerRow: number;
  cpuUsPerRow: number;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const dir = mkdtempSync(join(tmpdir(), 'shoal-ps-cache-'));
try {
  const bin = join(dir, 'bin.svm');
  const rat = join(dir, 'rat.svm');
  await generateDataset({ task: 'binary', rows, features: 100_000, nnz: 20, seed: 1, out: bin, testOut: `${bin}.test`, testFraction: 0.2 });
  await generateDataset({ task: 'ratings', rows, users: 5000, items: 2000, seed: 2, out: rat, testOut: `${rat}.test`, testFraction: 0.2 });
  const algos = {
    ftrl: { main: ftrlMain, metric: 'auc', args: ['--train', bin, '--test', `${bin}.test`, '--servers', '2', '--hash-bits', '24', '--alpha', '0.1', '--batch', '256', '-np', '2'] },
    fm: { main: fmMain, metric: 'rmse', args: ['--train', rat, '--test', `${rat}.test`, '--servers', '2', '--epochs', '5', '--batch', '512', '-np', '2'] },
  } as const;
  console.log(`node ${process.version}, ${cpus()[0]?.model ?? '?'} x${cpus().length}, load average ${loadavg()[0]!.toFixed(1)}; ${rows} rows, np 2, 2 servers, ${repeat} alternating repeats (medians)`);
  console.log('\n| algorithm | cache | test metric | train s | rows/s | worker CPU us/row | pull requests | keys pulled/row | keys pushed/row |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const [name, a] of Object.entries(algos)) {
    const cases = [null, ...stalenesses];
    const runs = new Map<number | null, Run[]>(cases.map((c) => [c, []]));
    for (let r = 0; r < repeat; r++) {
      for (const c of cases) {
        const out = join(dir, `${name}-${c}-${r}.json`);
        const code = await a.main([...a.args, ...(c === null ? [] : ['--ps-cache', String(c)]), '--metrics-out', out, '--quiet']);
        if (code !== 0) throw new Error(`${name} --ps-cache ${c}: exit code ${code}`);
        const m = JSON.parse(readFileSync(out, 'utf8')) as Record<string, unknown>;
        const traffic = m['traffic'] as Record<string, number>;
        runs.get(c)!.push({
          metric: Number(m[a.metric]),
          trainSeconds: Number(m['train_seconds']),
          rowsPerSecond: Number(m['rows_per_second']),
          pullRequests: traffic['pull_requests']!,
          keysPulledPerRow: traffic['keys_pulled_per_row']!,
          keysPushedPerRow: traffic['keys_pushed_per_row']!,
          cpuUsPerRow: traffic['worker_cpu_us_per_row']!,
        });
      }
    }
    for (const c of cases) {
      const rs = runs.get(c)!;
      const med = (f: (x: Run) => number) => median(rs.map(f));
      console.log(
        `| ${name} | ${c === null ? 'off' : `s=${c}`} | ${a.metric} ${med((x) => x.metric).toFixed(4)} | ${med((x) => x.trainSeconds).toFixed(2)} | ${Math.round(med((x) => x.rowsPerSecond))} | ${med((x) => x.cpuUsPerRow).toFixed(2)} | ${med((x) => x.pullRequests)} | ${med((x) => x.keysPulledPerRow)} | ${med((x) => x.keysPushedPerRow)} |`,
      );
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
