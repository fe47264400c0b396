// One rank of the collective benchmark (started by bench/collectives.ts through the launcher).
//
// Usage (under `shoal run` / runJob): collectives_worker.js --ops allreduce,bcast,reduce
//        --sizes 8,4096,... (bytes) --time 1.0
//
// Follows gloo's benchmark runner and /work/shared/anchors/collectives/mpi_coll.c, so the two
// are comparable number for number (STYLE.md §14; no adaptive sampling: every rank must make
// exactly the same calls):
//   1. correctness call (values rank+1, checked like mpi_coll.c), then the buffer is zeroed so
//      repeated in-place sums stay finite;
//   2. warm-up: rank 0 times one call, bcasts it, every rank runs the same number of barrier-fenced
//      warm-up iterations; rank 0 takes their median and bcasts the iteration count it derives;
//   3. timed loop: barrier, then every rank times its own call; allReduce(max) over the per-iteration
//      times gives each iteration's time as the slowest rank saw it;
//   4. back-to-back average (no barriers) for sizes <= 64 KiB, as mpi_coll.c's b2b_us;
//   5. rank 0 prints one `RES {json}` line per (op, size).
// Buffers: one float32 buffer of the largest size, pre-touched once and reused (views) for
// every size and iteration; nothing is allocated inside the timed loop.
import { performance } from 'node:perf_hooks';

import { init } from '../lib/index.js';

type BenchOp = 'allreduce' | 'bcast' | 'reduce';
const OPS: readonly BenchOp[] = ['allreduce', 'reduce', 'bcast'];

interface Args {
  ops: BenchOp[];
  sizes: number[];
  time: number;
}

function parseArgs(argv: string[]): Args {
  const out: Args = { ops: [...OPS], sizes: [8, 4096, 65536, 1 << 20, 16 << 20, 64 << 20], time: 1.0 };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (value === undefined) throw new Error(`collectives_worker: ${flag} needs a value`);
    i++;
    if (flag === '--ops') {
      out.ops = value.split(',').map((s) => {
        if (!(OPS as readonly string[]).includes(s)) throw new Error(`collectives_worker: unknown op ${s}`);
        return s as BenchOp;
      });
    } else if (flag === '--sizes') {
      out.sizes = value.split(',').map((s) => {
        const n = Number(s);
        if (!Number.isInteger(n) || n < 1) throw new Error(`collectives_worker: bad size ${s}`);
        return n;
      });
    } else if (flag === '--time') {
      out.time = Number(value);
      if (!(out.time > 0)) throw new Error(`collectives_worker: bad --time ${value}`);
    } else {
      throw new Error(`collectives_worker: unknown flag ${flag}`);
    }
  }
  return out;
}

const MAX_ITERS = 2000;
const SMALL = 65536;
const HUGE = 64 * 1024 * 1024;

const clamp = (x: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, x));
const nowS = (): number => performance.now() / 1e3;

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const comm = await init();
  const { rank, size: p } = comm;

  const maxCount = Math.max(1, ...args.sizes.map((b) => Math.floor(b / 4)));
  const buf = new Float32Array(maxCount).fill(rank + 1); // pre-touched once, reused throughout
  const times = new Float64Array(MAX_ITERS);
  const warmTimes = new Float64Array(200);
  const scalar = new Float64Array(1);
  let errors = 0;
  const perRank = process.env['SHOAL_BENCH_PER_RANK'] === '1';

  const run = (op: BenchOp, view: Float32Array): Promise<unknown> => {
    switch (op) {
      case 'allreduce':
        return comm.allReduce(view, { op: 'sum' });
      case 'reduce':
        return comm.reduceTo(view, 0, { op: 'sum' });
      case 'bcast':
        return comm.bcast(view, 0);
    }
  };

  /** Rank 0's value of x, on every rank. */
  const fromRoot = async (x: number): Promise<number> => {
    scalar[0] = x;
    await comm.bcast(scalar, 0);
    return scalar[0]!;
  };

  if (rank === 0) {
    console.log(`RES ${JSON.stringify({ kind: 'meta', np: p, node: process.version, dtype: 'float32', time: args.time, pid: process.pid })}`);
  }

  for (const op of args.ops) {
    for (const requested of args.sizes) {
      const count = Math.max(1, Math.floor(requested / 4));
      const bytes = count * 4;
      const view = buf.subarray(0, count);

      // 1. correctness (values are small integers, exact in float32)
      view.fill(op === 'bcast' ? (rank === 0 ? 1 : 0) : rank + 1);
      await comm.barrier();
      await run(op, view);
      if (op !== 'reduce' || rank === 0) {
        const want = op === 'bcast' ? 1 : (p * (p + 1)) / 2;
        for (let i = 0; i < count; i += 1 + Math.floor(count / 97)) if (view[i] !== want) { errors++; break; }
        if (view[count - 1] !== want) errors++;
      }
      view.fill(0); // op(0, 0) = 0: the data stays constant over any number of in-place calls

      // 2. warm-up; iteration count from rank 0's median barrier+op time
      await comm.barrier();
      let t0 = nowS();
      await run(op, view);
      const est = await fromRoot(nowS() - t0);
      const nwarm = clamp(Math.floor((0.1 * args.time) / (est + 1e-6)), 3, warmTimes.length);
      for (let k = 0; k < nwarm; k++) {
        t0 = nowS();
        await comm.barrier();
        await run(op, view);
        warmTimes[k] = nowS() - t0;
      }
      const warmMedian = median(Array.from(warmTimes.subarray(0, nwarm)).sort((a, b) => a - b));
      const minIters = bytes <= SMALL ? 200 : bytes >= HUGE ? 5 : 10;
      const maxIters = bytes >= HUGE ? 20 : MAX_ITERS;
      const iters = await fromRoot(clamp(Math.floor((0.75 * args.time) / warmMedian), minIters, maxIters));

      // 3. timed, barrier-fenced iterations
      for (let it = 0; it < iters; it++) {
        await comm.barrier();
        const a = nowS();
        await run(op, view);
        times[it] = nowS() - a;
      }
      const tmax = times.subarray(0, iters);
      const own = perRank ? Float64Array.from(tmax) : null;
      await comm.allReduce(tmax, { op: 'max' });
      if (own) {
        // Which rank sets the slowest time (SHOAL_BENCH_PER_RANK=1): its own median, and how
        // often its call was the iteration's slowest.
        let slowest = 0;
        for (let it = 0; it < iters; it++) if (own[it] === tmax[it]) slowest++;
        const ownMed = median(Array.from(own).sort((x, y) => x - y));
        console.error(`per-rank ${op} ${bytes} B rank ${rank}: own median ${(ownMed * 1e6).toFixed(1)} µs, slowest in ${((100 * slowest) / iters).toFixed(0)}% of iterations`);
      }

      // 4. back-to-back average for small messages (removes barrier skew)
      let b2b: number | null = null;
      if (bytes <= SMALL) {
        const sorted = Array.from(tmax).sort((x, y) => x - y);
        const n = await fromRoot(clamp(Math.floor((0.15 * args.time) / (median(sorted) + 1e-6)), 10, 100_000));
        await comm.barrier();
        const a = nowS();
        for (let k = 0; k < n; k++) await run(op, view);
        await comm.barrier(); // include the drain of the last op
        scalar[0] = (nowS() - a) / n;
        await comm.allReduce(scalar, { op: 'max' });
        b2b = scalar[0]!;
      }

      // 5. report
      if (rank === 0) {
        const sorted = Array.from(tmax).sort((x, y) => x - y);
        const med = median(sorted);
        const algbw = bytes / med / 1e9;
        const busbw = op === 'allreduce' ? (algbw * 2 * (p - 1)) / p : algbw;
        const row = {
          kind: 'row',
          op,
          np: p,
          bytes,
          dtype: 'float32',
          iters,
          warmup: nwarm,
          med_us: med * 1e6,
          min_us: sorted[0]! * 1e6,
          p90_us: sorted[Math.floor(0.9 * (iters - 1))]! * 1e6,
          p99_us: sorted[Math.floor(0.99 * (iters - 1))]! * 1e6,
          algbw_GBs: algbw,
          busbw_GBs: busbw,
          b2b_us: b2b === null ? null : b2b * 1e6,
        };
        console.log(`RES ${JSON.stringify(row)}`);
      }
    }
  }

  const errs = new Int32Array([errors]);
  await comm.allReduce(errs, { op: 'sum' });
  if (rank === 0) console.log(`RES ${JSON.stringify({ kind: 'done', check_errors: errs[0] })}`);
  await comm.close();
  if (errs[0] !== 0) process.exitCode = 1;
}

/** Median of an ascending array (mean of the middle two for even lengths, as mpi_coll.c). */
function median(sorted: number[]): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  return n % 2 ? sorted[(n - 1) / 2]! : 0.5 * (sorted[n / 2 - 1]! + sorted[n / 2]!);
}

main().catch((err: unknown) => {
  console.error(`collectives_worker: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exit(1);
});
