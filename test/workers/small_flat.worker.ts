// Rank program for the flat small-op plans among 3-4 ranks (native/collectives/small_flat.cc)
// and the shared-memory futex wake-ups they sleep on (native/transport/link.cc).
//
//   bits:   200 rounds of small float32 allReduce (sum) on inexact data that every rank can
//           regenerate for every rank; each result must equal, bit for bit, the rank-order fold
//           ((x0 + x1) + x2) + x3 in float32, which is what every rank computes. Also reduceTo
//           and bcast from a rotating root and a barrier per round. Prints RESULT {...}.
//   kill:   the last rank runs 50 small allReduces with the others, then dies by SIGKILL while
//           they wait for it in the next one; survivors print OUTCOME {...} (code, peer).
import { init } from '../../lib/index.js';

const scenario = process.argv[2] ?? 'bits';
const comm = await init({ opTimeoutMs: 30_000 });
const { rank, size: p } = comm;

/** Rank r's input in round k: floats of mixed magnitude, so the sum's bits depend on the order. */
function input(r: number, k: number, n: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + r * 78.233 + k * 3.17) * 10 ** ((i + r + k) % 7));
}

if (scenario === 'bits') {
  const errors: string[] = [];
  let checked = 0;
  const fail = (what: string): void => {
    if (errors.length < 10) errors.push(what);
  };
  for (let k = 0; k < 200; k++) {
    const n = [1, 2, 5, 64, 1024][k % 5]!; // 4 B to 4 KiB
    const x = input(rank, k, n);
    await comm.allReduce(x);
    // Float32Array stores round each partial sum to float32, as the native fold does.
    const want = input(0, k, n);
    for (let r = 1; r < p; r++) {
      const xr = input(r, k, n);
      for (let i = 0; i < n; i++) want[i] = want[i]! + xr[i]!;
    }
    for (let i = 0; i < n; i++) if (!Object.is(x[i], want[i])) fail(`allReduce round ${k} element ${i}: got ${x[i]}, want ${want[i]}`);
    const root = k % p;
    const y = Float64Array.from({ length: n }, (_, i) => rank * 1000 + i + k);
    await comm.reduceTo(y, root);
    for (let i = 0; i < n; i++) {
      const w = rank === root ? (p * (p - 1) / 2) * 1000 + p * (i + k) : rank * 1000 + i + k;
      if (y[i] !== w) fail(`reduceTo round ${k} element ${i}: got ${y[i]}, want ${w}`);
    }
    const z = rank === root ? Int32Array.from({ length: n }, (_, i) => i * 7 + k) : new Int32Array(n);
    await comm.bcast(z, root);
    for (let i = 0; i < n; i++) if (z[i] !== i * 7 + k) fail(`bcast round ${k} element ${i}: got ${z[i]}`);
    await comm.barrier();
    checked++;
  }
  console.log(`RESULT ${JSON.stringify({ rank, checked, errors, transports: [...comm.transports] })}`);
  await comm.close();
} else if (scenario === 'kill') {
  const x = new Float32Array(2);
  try {
    for (let k = 0; k < 1000; k++) {
      if (k === 50 && rank === p - 1) process.kill(process.pid, 'SIGKILL');
      await comm.allReduce(x);
    }
    console.log(`OUTCOME ${JSON.stringify({ ok: true })}`);
  } catch (err) {
    const e = err as Error & { code?: string; peer?: number; op?: string };
    console.log(`OUTCOME ${JSON.stringify({ ok: false, name: e.name, code: e.code, peer: e.peer, op: e.op, message: e.message })}`);
  }
  process.exit(0);
}
