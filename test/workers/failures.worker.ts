// Rank program for failure tests. argv[2] names the scenario; every rank prints one line
// `OUTCOME {json}` describing how its op ended (ok, or the error's class, code, peer and
// message) and exits 0, so the test can compare what every survivor saw.
import { init, type Communicator } from '../../lib/index.js';

const scenario = process.argv[2] ?? '';
const t0 = Date.now();

function report(outcome: Record<string, unknown>): void {
  console.log(`OUTCOME ${JSON.stringify({ ...outcome, elapsedMs: Date.now() - t0 })}`);
}

async function attempt(fn: () => Promise<unknown>): Promise<void> {
  try {
    await fn();
    report({ ok: true });
  } catch (err) {
    const e = err as Error & { code?: string; peer?: number; op?: string; seq?: number };
    report({ ok: false, name: e.name, code: e.code, peer: e.peer, op: e.op, seq: e.seq, message: e.message });
  }
}

// direct-lend: argv[3] is JSON, per rank { tuning?, timeoutMs? } (fault hooks of the direct-read allReduce).
const lendPlan = scenario === 'direct-lend' ? (JSON.parse(process.argv[3] ?? '[]') as Array<{ tuning?: Record<string, number>; timeoutMs?: number }>) : [];
const myPlan = lendPlan[Number(process.env.SHOAL_RANK)] ?? {};
const comm: Communicator = await init({ opTimeoutMs: 20_000, tuning: myPlan.tuning });
const { rank } = comm;
const big = new Float32Array(4 << 20);

switch (scenario) {
  case 'mismatch-kind':
    // Rank 1 calls bcast where everyone else calls allReduce.
    await attempt(() => (rank === 1 ? comm.bcast(new Float32Array(100), 0) : comm.allReduce(new Float32Array(100))));
    break;
  case 'mismatch-count':
    await attempt(() => comm.allReduce(new Float32Array(rank === 0 ? 10 : 11)));
    break;
  case 'mismatch-dtype':
    await attempt(() => comm.allReduce(rank === 2 ? new Float64Array(64) : new Float32Array(64)));
    break;
  case 'kill-mid-allreduce':
    // The last rank dies by SIGKILL in the middle of a stream of large allReduces.
    await attempt(async () => {
      for (let i = 0; i < 200; i++) {
        if (rank === comm.size - 1 && i === 3) setTimeout(() => process.kill(process.pid, 'SIGKILL'), 5);
        await comm.allReduce(big);
      }
    });
    break;
  case 'hang':
    // The last rank stops (SIGSTOP: sockets stay open, nothing is sent); the coordinator's
    // heartbeat timeout must break the others' allReduce.
    await attempt(async () => {
      await comm.barrier();
      if (rank === comm.size - 1) process.kill(process.pid, 'SIGSTOP');
      await comm.allReduce(big);
    });
    break;
  case 'timeout':
    // Rank 1 never joins the allReduce; rank 0 gives up after 500 ms.
    if (rank === 0) await attempt(() => comm.allReduce(new Float32Array(8), { timeoutMs: 500 }));
    else {
      await new Promise((r) => setTimeout(r, 1500));
      report({ ok: true, skipped: true });
    }
    break;
  case 'after-break':
    // After a failure, later ops reject at once with the original error.
    await attempt(() => comm.allReduce(new Float32Array(rank === 0 ? 10 : 11)));
    await attempt(() => comm.barrier());
    break;
  case 'direct-lend': {
    // One direct-read allReduce (12 MiB of float32 at 3 ranks: above the 2 MiB slice
    // threshold) in which the plan makes a rank fail or time out; a rank whose op fails
    // overwrites its buffer at once, as a caller reusing it would. `wrong` counts the elements
    // of a rank that succeeded that are not the exact sum.
    const n = 3 * (1 << 20) + 7;
    const buf = new Float32Array(n).map((_, i) => (i % 1000) * (rank + 1));
    const want = (comm.size * (comm.size + 1)) / 2;
    await comm.barrier();  // everyone in step 0 at about the same time, however slow the start
    try {
      await comm.allReduce(buf, { timeoutMs: myPlan.timeoutMs });
      let wrong = 0;
      for (let i = 0; i < n; i++) if (buf[i] !== want * (i % 1000)) wrong++;
      report({ ok: true, wrong, directReads: comm.directReads });
    } catch (err) {
      buf.fill(-1e9);
      const e = err as Error & { code?: string };
      report({ ok: false, code: e.code, message: e.message, directReads: comm.directReads });
    }
    break;
  }
  default:
    throw new Error(`unknown scenario ${scenario}`);
}
await comm.close().catch(() => undefined);
process.exit(0);
