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

const comm: Communicator = await init({ opTimeoutMs: 20_000 });
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
  default:
    throw new Error(`unknown scenario ${scenario}`);
}
await comm.close().catch(() => undefined);
process.exit(0);
