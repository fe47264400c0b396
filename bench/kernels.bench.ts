// Reduction-kernel throughput: native.reduce(dst, a, b, sum) for float32/float64/int32 at
// 1 MiB and 16 MiB per array, against a memcpy baseline (dst.set(src)) of the same size.
//
// Bytes-touched convention (stated in the output and the JSON):
//   reduce: 3 x n x elementSize (read a, read b, write dst)
//   memcpy: 2 x n x elementSize (read src, write dst)
// GB/s = 1e9 bytes/s, computed from benny's median time per call. ratio = reduce GB/s / memcpy GB/s
// at the same array size (1.0: the kernel streams as fast as memcpy; >1 is possible because it
// moves 1.5x the bytes per element).
//
// Run: node dist/bench/kernels.bench.js   (results: bench/results/kernels*.json, gitignored)
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, arch, platform } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import b from 'benny';

import { native, REDUCE_OP, type NativeBuffer } from '../lib/native.js';

const here = dirname(fileURLToPath(import.meta.url));
// dist/bench/kernels.bench.js -> repo root
const repoRoot = resolve(here, '../..');
const resultsDir = resolve(repoRoot, 'bench/results');

const MiB = 1024 * 1024;
const SIZES = [1 * MiB, 16 * MiB];
const DTYPES = [
  { name: 'float32', make: (n: number) => new Float32Array(n).fill(1.5) as NativeBuffer, bytes: 4 },
  { name: 'float64', make: (n: number) => new Float64Array(n).fill(1.5) as NativeBuffer, bytes: 8 },
  { name: 'int32', make: (n: number) => new Int32Array(n).fill(3) as NativeBuffer, bytes: 4 },
] as const;

interface CaseInfo {
  name: string;
  kind: 'reduce' | 'memcpy';
  dtype: string;
  arrayBytes: number;
  elements: number;
  bytesTouched: number;
}

interface Row extends CaseInfo {
  medianUs: number;
  meanUs: number;
  opsPerSec: number;
  samples: number;
  rmePct: number;
  GBs: number;
  ratioToMemcpy: number | null;
}

const caseOptions = { minSamples: 10, maxTime: 2, delay: 0.05 };

async function runSize(arrayBytes: number): Promise<Row[]> {
  const label = arrayBytes >= MiB ? `${arrayBytes / MiB}MiB` : `${arrayBytes / 1024}KiB`;
  const infos: CaseInfo[] = [];
  const cases = [];

  // memcpy baseline: byte-for-byte the same array size (float32 elements; the type does not matter to a copy).
  {
    const n = arrayBytes / 4;
    const src = new Float32Array(n).fill(1.5);
    const dst = new Float32Array(n).fill(0); // pre-touched: no page faults inside the timed loop
    const info: CaseInfo = { name: `memcpy ${label}`, kind: 'memcpy', dtype: 'bytes', arrayBytes, elements: n, bytesTouched: 2 * arrayBytes };
    infos.push(info);
    cases.push(b.add(info.name, () => dst.set(src)));
  }
  for (const dt of DTYPES) {
    const n = arrayBytes / dt.bytes;
    const x = dt.make(n);
    const y = dt.make(n);
    const dst = dt.make(n);
    const op = REDUCE_OP.sum;
    const info: CaseInfo = { name: `reduce sum ${dt.name} ${label}`, kind: 'reduce', dtype: dt.name, arrayBytes, elements: n, bytesTouched: 3 * n * dt.bytes };
    infos.push(info);
    cases.push(b.add(info.name, () => native.reduce(dst, x, y, op)));
  }

  const summary = await b.suite(
    `native.reduce vs memcpy, ${label} per array`,
    b.configure({ cases: caseOptions }),
    ...cases,
    b.cycle(),
    b.complete(),
    b.save({ file: `kernels-${label}`, folder: resultsDir, format: 'json', details: false, version: process.version }),
  );

  const rows: Row[] = [];
  for (const info of infos) {
    const r = summary.results.find((x) => x.name === info.name);
    if (!r) throw new Error(`benny returned no result for ${info.name}`);
    const median = r.details.median; // seconds per call
    rows.push({
      ...info,
      medianUs: median * 1e6,
      meanUs: r.details.mean * 1e6,
      opsPerSec: r.ops,
      samples: r.samples,
      rmePct: r.details.relativeMarginOfError,
      GBs: info.bytesTouched / median / 1e9,
      ratioToMemcpy: null,
    });
  }
  const memcpy = rows.find((r) => r.kind === 'memcpy')!;
  for (const r of rows) r.ratioToMemcpy = r.kind === 'reduce' ? r.GBs / memcpy.GBs : 1;
  return rows;
}

function pad(s: string, n: number, right = false): string {
  return right ? s.padEnd(n) : s.padStart(n);
}

async function main(): Promise<void> {
  mkdirSync(resultsDir, { recursive: true });
  console.log(`# native.reduce (sum) vs memcpy; node ${process.version}, ${platform()}-${arch()}, ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'})`);
  const rows: Row[] = [];
  for (const size of SIZES) rows.push(...(await runSize(size)));

  console.log('\nBytes touched: reduce = 3 x n x elementSize (a, b read; dst written), memcpy = 2 x n x elementSize.');
  console.log('GB/s = 1e9 B/s from the median time per call; ratio = reduce GB/s / memcpy GB/s at the same array size.\n');
  const header = `${pad('case', 28, true)} ${pad('median µs', 10)} ${pad('GB/s', 7)} ${pad('ratio', 6)} ${pad('±%', 6)} ${pad('samples', 7)}`;
  console.log(header);
  console.log('-'.repeat(header.length));
  for (const r of rows) {
    console.log(
      `${pad(r.name, 28, true)} ${pad(r.medianUs.toFixed(1), 10)} ${pad(r.GBs.toFixed(2), 7)} ${pad((r.ratioToMemcpy ?? 1).toFixed(2), 6)} ${pad(r.rmePct.toFixed(1), 6)} ${pad(String(r.samples), 7)}`,
    );
  }

  const out = {
    bench: 'kernels',
    date: new Date().toISOString(),
    node: process.version,
    platform: `${platform()}-${arch()}`,
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    size: 1, // single process
    convention: {
      reduceBytes: '3 * n * elementSize',
      memcpyBytes: '2 * n * elementSize',
      GBs: '1e9 bytes/s, from the median time per call',
      ratio: 'reduce GB/s / memcpy GB/s at the same array size',
    },
    caseOptions,
    rows,
  };
  const file = resolve(resultsDir, 'kernels.json');
  writeFileSync(file, JSON.stringify(out, null, 2) + '\n');
  console.log(`\nSaved to: ${file}`);
}

await main();
