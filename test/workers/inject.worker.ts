// Rank program for fault-injection tests: `node inject.worker.js OP COUNT [LOGFILE]` runs COUNT
// ops of kind OP (allReduce or barrier) on the world communicator. When LOGFILE is given every
// rank appends `r<rank> enter <seq>` before calling the op, `r<rank> submitted <seq>` once the
// call has returned (the op is then in the engine: injection runs before that) and
// `r<rank> done <seq>` after it settles, so a test can check the order of events across ranks.
// Prints `DONE <seq>` per finished op and one `OUTCOME {json}` line at the end; exits 0.
import { appendFileSync } from 'node:fs';
import { init } from '../../lib/index.js';

const [op = 'allReduce', countText = '10', logFile] = process.argv.slice(2);
const count = Number(countText);
const comm = await init({ opTimeoutMs: 20_000 });
const log = (line: string): void => {
  if (logFile) appendFileSync(logFile, `r${comm.rank} ${line}\n`);
};

let seq = 0;
try {
  for (; seq < count; seq++) {
    log(`enter ${seq}`);
    const pending = op === 'barrier' ? comm.barrier() : comm.allReduce(new Float64Array([comm.rank, seq]));
    log(`submitted ${seq}`);
    await pending;
    log(`done ${seq}`);
    console.log(`DONE ${seq}`);
  }
  console.log(`OUTCOME ${JSON.stringify({ ok: true })}`);
} catch (err) {
  const e = err as Error & { code?: string; peer?: number; op?: string; seq?: number };
  console.log(`OUTCOME ${JSON.stringify({ ok: false, at: seq, name: e.name, code: e.code, peer: e.peer, op: e.op, seq: e.seq, message: e.message })}`);
}
await comm.close().catch(() => undefined);
process.exit(0);
