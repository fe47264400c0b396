// libsvm parse throughput of readLibsvm with one rank (one parser thread), on synthetic files
// written by the datagen generators into os.tmpdir(): a sparse CTR-like file (`binary`:
// integer ids, values "1") and a dense one (`dense`: 28 four-decimal floats per row).
//
// MB/s = 1e6 bytes/s of file text, from the median of --runs timed parses after one warm-up
// (the file is then in the page cache, so this is parse speed, not disk speed). Goal:
// >= 100 MB/s per core.
//
// Run: node dist/bench/parse.bench.js [--mb 200] [--task binary|dense|all] [--runs 3] [--keep]
// Results: bench/results/parse.json (gitignored).
import { mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { arch, cpus, platform, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { generateDataset, type DatagenOptions } from '../lib/data/datagen.js';
import { readLibsvm } from '../lib/data/libsvm.js';

const here = dirname(fileURLToPath(import.meta.url));
const resultsDir = resolve(here, '../../bench/results');

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? (process.argv[i + 1] as string) : fallback;
}

const targetMb = Number(arg('mb', '200'));
const runs = Math.max(1, Number(arg('runs', '3')));
const taskArg = arg('task', 'all');
const keep = process.argv.includes('--keep');
const tasks: Array<'binary' | 'dense'> = taskArg === 'all' ? ['binary', 'dense'] : [taskArg as 'binary' | 'dense'];

const SHAPES: Record<'binary' | 'dense', Partial<DatagenOptions>> = {
  binary: { features: 1_000_000, nnz: 30 },
  dense: { features: 28 },
};

async function makeFile(task: 'binary' | 'dense'): Promise<string> {
  const path = join(tmpdir(), `shoal-parse-bench-${task}-${targetMb}mb.svm`);
  try {
    if (statSync(path).size > 0) return path;
  } catch {
    // Not there yet: generate it.
  }
  // Calibrate bytes per row on a small sample, then write the real file.
  const probe = `${path}.probe`;
  const sample = await generateDataset({ task, rows: 5000, seed: 7, out: probe, ...SHAPES[task] });
  rmSync(probe);
  const rows = Math.max(1, Math.round((targetMb * 1e6) / (sample.bytes / 5000)));
  process.stderr.write(`parse.bench: writing ${rows} ${task} rows (~${targetMb} MB) to ${path}\n`);
  const t0 = performance.now();
  await generateDataset({ task, rows, seed: 7, out: path, ...SHAPES[task] });
  process.stderr.write(`parse.bench: generated in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
  return path;
}

const results = [];
for (const task of tasks) {
  const path = await makeFile(task);
  const bytes = statSync(path).size;
  await readLibsvm(path); // warm-up: page cache, allocator
  const times: number[] = [];
  let nnz = 0;
  let numRows = 0;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const r = await readLibsvm(path);
    times.push((performance.now() - t0) / 1000);
    nnz = r.featureIds.length;
    numRows = r.numRows;
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)] as number;
  const mbps = bytes / 1e6 / median;
  const best = bytes / 1e6 / (times[0] as number);
  console.log(
    `${task.padEnd(6)} ${(bytes / 1e6).toFixed(1)} MB, ${numRows} rows, ${nnz} nnz: median ${median.toFixed(3)} s = ${mbps.toFixed(0)} MB/s (best ${best.toFixed(0)} MB/s, ${runs} runs, 1 rank)`,
  );
  results.push({ task, bytes, rows: numRows, nnz, runs, medianSeconds: median, mbPerSecond: mbps, bestMbPerSecond: best });
  if (!keep) rmSync(path);
}

mkdirSync(resultsDir, { recursive: true });
writeFileSync(
  join(resultsDir, 'parse.json'),
  JSON.stringify({ node: process.version, platform: platform(), arch: arch(), cpu: cpus()[0]?.model, size: 1, results }, null, 2) + '\n',
);
