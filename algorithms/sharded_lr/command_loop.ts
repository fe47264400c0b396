// The command loop of a sharded run (`shoal train lr --servers K`): rank 0 drives the solver
// and broadcasts a command before every step that needs every rank (an evaluation, a CG
// product, ...); the other ranks wait for the next command and serve it. L-BFGS/OWL-QN
// (index.ts) and TRON (sharded_tron.ts) share it: the end of a run (the driver's numbers to
// every rank, or the driver's failure) and the commits (run_commits.ts) are handled here.
import { ShoalError } from '../../lib/errors.js';
import type { Collective } from '../common/collective.js';
import type { ShardedRunCommits } from './run_commits.js';

// Codes of the loop itself; a solver's commands are positive.
const DONE = -1;
const FAILED = -2;
const COMMIT = -3;

/** Rank 0's side of the loop, handed to the driver. */
export class CommandSender<S> {
  constructor(
    private readonly comm: Collective,
    private readonly cmd: Float64Array,
    private readonly commits: ShardedRunCommits<S> | null,
  ) {}

  /** Broadcasts command `code` (> 0) with `args`; rank 0 then serves it like every rank. */
  async send(code: number, ...args: number[]): Promise<void> {
    this.cmd.fill(0);
    this.cmd[0] = code;
    this.cmd.set(args, 1);
    await this.comm.bcast(this.cmd, 0);
  }

  /** Commits the driver's state; with replicated commits, every rank takes it too. */
  async commit(state: S): Promise<void> {
    const commits = this.commits!;
    await commits.commit(state);
    if (!commits.replicated) return;
    this.cmd.fill(0);
    this.cmd[0] = COMMIT;
    await this.comm.bcast(this.cmd, 0);
    await commits.follow();
  }
}

export interface CommandLoop<S> {
  /** Numbers in a command after its code (the largest of the solver's commands and of drive's result). */
  width: number;
  commits: ShardedRunCommits<S> | null;
  /** Rank 0: runs the solver, sending a command before each collective step; returns the run's numbers. */
  drive(sender: CommandSender<S>): Promise<number[]>;
  /** Every other rank: serves one command (`cmd[0]` its code, then its numbers). */
  serve(cmd: Float64Array): Promise<void>;
}

/**
 * Runs a sharded solver on every rank (collective): rank 0 drives, the others serve its
 * commands until it is done. Returns the driver's numbers on every rank. A driver that throws
 * stops every rank: rank 0 with its error, the others with ERR_ABORTED pointing at it.
 */
export async function driveFromRank0<S>(comm: Collective, loop: CommandLoop<S>): Promise<number[]> {
  const cmd = new Float64Array(1 + loop.width);
  if (comm.rank === 0) {
    let result: number[];
    try {
      result = await loop.drive(new CommandSender(comm, cmd, loop.commits));
    } catch (err) {
      // The other ranks wait for a command: tell them, then fail with the cause.
      cmd[0] = FAILED;
      await comm.bcast(cmd, 0).catch(() => undefined);
      throw err;
    }
    cmd[0] = DONE;
    cmd.set(result, 1);
    await comm.bcast(cmd, 0);
  } else {
    for (;;) {
      await comm.bcast(cmd, 0);
      if (cmd[0] === DONE || cmd[0] === FAILED) break;
      if (cmd[0] === COMMIT) await loop.commits!.follow();
      else await loop.serve(cmd);
    }
    if (cmd[0] === FAILED) throw new ShoalError('ERR_ABORTED', 'lr --servers: rank 0 stopped the solver (see its message)', { rank: comm.rank });
  }
  return Array.from(cmd.subarray(1));
}
