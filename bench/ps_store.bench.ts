// Shard-store throughput and memory (native/ps/shard_store.h through the test-only PsStore
// binding, synchronous on this thread): for each case, push N unique random keys in batches
// (every push inserts new rows, so the table grows incrementally from empty), then pull them
// all, then push them all again (updates of existing rows). Prints keys/s per phase, the
// slowest single call and every call that grew the table or moved old slots (growth must
// not stall one call beyond its own batch's share), and bytes/key =
// memoryBytes / size, plus the same insert with expectedKeys = N (no growth).
//
// Cases: dim 1 AdaGrad at --keys (default 1e7) and dim 16 AdaGrad at --keys16 (default 1e6),
// batches of --batch keys (default 2^20). Keys come from crypto.randomFillSync (a repeat
// among 1e7 64-bit keys has probability ~3e-6; the printed size shows it).
//
// Run: node dist/bench/ps_store.bench.js [--keys 1e7] [--keys16 1e6] [--batch 1048576]
// (results also go to bench/results/ps_store.json, gitignored)
import { randomFillSync } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { arch, cpus, platform } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { native } from '../lib/native.js';

interface PsStore {
  pull(keys: BigUint64Array): Float32Array;
  push(keys: BigUint64Array, values: Float32Array): void;
  readonly size: number;
  readonly memoryBytes: number;
  readonly capacity: number;
  readonly migrating: boolean;
}

interface PsStoreOptions {
  dim: number;
  init?: { type: 'zeros' | 'normal' | 'uniform'; std?: number; seed?: number };
  updater?: { type: 'adagrad'; lr?: number };
  expectedKeys?: number;
}

const { PsStore } = native as unknown as { PsStore: new (options: PsStoreOptions) => PsStore };

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = Number(process.argv[i + 1]);
  if (!Number.isFinite(v) || v < 1) throw new Error(`--${name}: expected a positive number, got ${process.argv[i + 1]}`);
  return Math.floor(v);
}

const KEYS = arg('keys', 1e7);
const KEYS16 = arg('keys16', 1e6);
const BATCH = arg('batch', 1 << 20);

interface Phase {
  keysPerSec: number;
  seconds: number;
  maxCallMs: number;
  /** Calls that grew the table or moved old slots: "capacity before->after: ms". */
  growthCalls: string[];
}

interface CaseResult {
  name: string;
  dim: number;
  keys: number;
  expectedKeys: boolean;
  size: number;
  capacity: number;
  migratingAfterInsert: boolean;
  bytesPerKey: number;
  insert: Phase;
  pull?: Phase;
  update?: Phase;
}

function timeBatches(store: PsStore, n: number, fn: (off: number, end: number) => void): Phase {
  let maxCall = 0;
  const growthCalls: string[] = [];
  const t0 = process.hrtime.bigint();
  for (let off = 0; off < n; off += BATCH) {
    const capacity = store.capacity;
    const migrating = store.migrating;
    const c0 = process.hrtime.bigint();
    fn(off, Math.min(off + BATCH, n));
    const ms = Number(process.hrtime.bigint() - c0) / 1e6;
    maxCall = Math.max(maxCall, ms);
    if (migrating || store.capacity !== capacity) {
      growthCalls.push(`${capacity}->${store.capacity}${store.migrating ? '*' : ''}: ${ms.toFixed(0)} ms`);
    }
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return { keysPerSec: n / seconds, seconds, maxCallMs: maxCall, growthCalls };
}

function runCase(dim: number, n: number, withExpected: boolean, keys: BigUint64Array): CaseResult {
  const store = new PsStore({
    dim,
    init: { type: 'normal', std: 0.01, seed: 1 },
    updater: { type: 'adagrad', lr: 0.05 },
    ...(withExpected ? { expectedKeys: n } : {}),
  });
  const grads = new Float32Array(Math.min(BATCH, n) * dim);
  for (let i = 0; i < grads.length; i++) grads[i] = ((i * 7919) % 1000) / 1000 - 0.5;
  const gradsFor = (count: number) => grads.subarray(0, count * dim);

  const insert = timeBatches(store, n, (off, end) => store.push(keys.subarray(off, end), gradsFor(end - off)));
  const result: CaseResult = {
    name: `dim ${dim} adagrad, ${n.toExponential(0)} keys${withExpected ? ', expectedKeys' : ''}`,
    dim,
    keys: n,
    expectedKeys: withExpected,
    size: store.size,
    capacity: store.capacity,
    migratingAfterInsert: store.migrating,
    bytesPerKey: store.memoryBytes / store.size,
    insert,
  };
  if (!withExpected) {
    result.pull = timeBatches(store, n, (off, end) => void store.pull(keys.subarray(off, end)));
    result.update = timeBatches(store, n, (off, end) => store.push(keys.subarray(off, end), gradsFor(end - off)));
    if (result.migratingAfterInsert) result.bytesPerKey = store.memoryBytes / store.size; // settled by the pull pass
  }
  return result;
}

function fmtPhase(label: string, p: Phase | undefined): string {
  if (p === undefined) return '';
  return `  ${label.padEnd(22)} ${(p.keysPerSec / 1e6).toFixed(2).padStart(7)} M keys/s   (${p.seconds.toFixed(2)} s, slowest call ${p.maxCallMs.toFixed(1)} ms)`;
}

function main(): void {
  const cpu = cpus()[0]?.model ?? 'unknown cpu';
  console.log(`ps_store bench: node ${process.version}, ${platform()}-${arch()}, ${cpu} x${cpus().length}, batch ${BATCH} keys`);
  const results: CaseResult[] = [];
  for (const [dim, n] of [
    [1, KEYS],
    [16, KEYS16],
  ] as const) {
    const keys = new BigUint64Array(n);
    for (let off = 0; off < n; off += 1 << 20) randomFillSync(keys.subarray(off, off + (1 << 20)));
    for (const withExpected of [false, true]) {
      const r = runCase(dim, n, withExpected, keys);
      results.push(r);
      console.log(`${r.name}: size ${r.size}, capacity ${r.capacity}, ${r.bytesPerKey.toFixed(2)} bytes/key` +
        (r.migratingAfterInsert ? ' (after the old table drained; both tables were alive right after inserting)' : ''));
      console.log(fmtPhase('push (insert new)', r.insert));
      if (r.insert.growthCalls.length > 0) {
        console.log(`    calls that grew or migrated (capacity before->after, * = still migrating): ${r.insert.growthCalls.join(', ')}`);
      }
      const pull = fmtPhase('pull (existing)', r.pull);
      if (pull) console.log(pull);
      const update = fmtPhase('push (update existing)', r.update);
      if (update) console.log(update);
    }
  }
  const here = dirname(fileURLToPath(import.meta.url));
  const resultsDir = resolve(here, '../../bench/results');
  mkdirSync(resultsDir, { recursive: true });
  const file = resolve(resultsDir, 'ps_store.json');
  writeFileSync(file, JSON.stringify({ node: process.version, platform: platform(), arch: arch(), cpu, batch: BATCH, results }, null, 2));
  console.log(`wrote ${file}`);
}

main();
