// CPU cost of lib/pipeline.ts per item, apart from the work of its stages: the four stages of
// the PS trainers' step pipeline (ps_trainer/step_pipeline.ts: keys, pull, compute, push) with
// trivial bodies (the pull and push resolve at once, as a request answered by the next turn),
// against the same calls in a sequential loop. Prints CPU microseconds per item of each and
// the difference: what --pipeline adds per minibatch. Median of --repeat runs (CPU time of
// this process, so other load on the machine matters less than for wall time).
//
//   node dist/bench/pipeline_overhead.js [--items N] [--repeat R]
import { loadavg } from 'node:os';
import { Pipeline, range } from '../lib/pipeline.js';

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

const answered = <T>(v: T): Promise<T> => new Promise((resolve) => setImmediate(() => resolve(v)));
let sink = 0;
const keys = (step: number) => ({ step, lo: step * 2, hi: step * 2 + 2 });
const compute = (x: { step: number; lo: number }) => {
  sink += x.lo;
  return x;
};

async function sequential(items: number): Promise<void> {
  for (let step = 0; step < items; step++) {
    const k = keys(step);
    const p = await answered(k);
    const c = compute(p);
    await answered(c);
  }
}

async function pipelined(items: number): Promise<void> {
  const p = Pipeline.from(range(0, items), { name: 'bench', depth: 0 })
    .stage('keys', (step) => keys(step), { depth: 2 })
    .stage('pull', (k) => answered(k), { depth: 0 })
    .stage('compute', (x) => compute(x), { depth: 0 })
    .stage('push', (c) => answered(c), { depth: 0 });
  for await (const _ of p) void _;
}

async function cpuUsPerItem(fn: (n: number) => Promise<void>, items: number): Promise<number> {
  const c0 = process.cpuUsage();
  await fn(items);
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / items;
}

const items = flag('items', 100_000);
const repeat = flag('repeat', 5);
const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
// Warm-up (JIT), then alternate so drift of the machine's load hits both alike.
await sequential(10_000);
await pipelined(10_000);
const seq: number[] = [];
const pipe: number[] = [];
const load0 = loadavg().map((l) => l.toFixed(2)).join(' ');
for (let r = 0; r < repeat; r++) {
  seq.push(await cpuUsPerItem(sequential, items));
  pipe.push(await cpuUsPerItem(pipelined, items));
}
console.log(`pipeline overhead, ${items} items x ${repeat} runs, load average ${load0} -> ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
console.log(`sequential loop: ${median(seq).toFixed(2)} CPU us/item (runs ${seq.map((v) => v.toFixed(2)).join(' ')})`);
console.log(`4-stage pipeline: ${median(pipe).toFixed(2)} CPU us/item (runs ${pipe.map((v) => v.toFixed(2)).join(' ')})`);
console.log(`added by the pipeline: ${(median(pipe) - median(seq)).toFixed(2)} CPU us/item${sink < 0 ? '' : ''}`);
