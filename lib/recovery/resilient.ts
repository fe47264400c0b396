// resilient(): runs a training loop so that a lost worker costs one iteration, not the job.
// On a PeerLostError in a job that replaces workers (`shoal run --max-restarts K`), every
// survivor rolls its TrainingState back to the last commit, rebuilds the world communicator
// with the launcher's replacement (Communicator.recover), and all ranks (the replacement
// included) adopt the most advanced committed state (TrainingState.sync) and call `loop` again.
// Without --max-restarts it is just `await state.sync(); return loop(state.value)`.
import type { Collective } from '../collective.js';
import { ShoalError } from '../errors.js';
import { recoveryEnabled, restartCount } from './recovery_env.js';
import type { TrainingState } from './training_state.js';

export interface ResilientOptions {
  /** Where recovery is reported; default stderr. */
  log?: (line: string) => void;
}

/** A communicator that can be rebuilt after a loss (the world Communicator). */
interface Recoverable {
  recover(options?: { timeoutMs?: number }): Promise<void>;
}

function canRecover(comm: Collective, err: unknown): comm is Collective & Recoverable {
  return (
    recoveryEnabled() &&
    typeof (comm as Partial<Recoverable>).recover === 'function' &&
    err instanceof ShoalError &&
    err.code === 'ERR_PEER_LOST'
  );
}

/**
 * @example
 *   const state = new TrainingState(comm, { iteration: 0, w: new Float64Array(dim) });
 *   const w = await resilient(comm, state, async (s) => {
 *     for (; s.iteration < 100; s.iteration++) { await comm.allReduce(grad(s.w)); state.commit(); }
 *     return s.w;
 *   });
 */
export async function resilient<T extends object, R>(comm: Collective, state: TrainingState<T>, loop: (value: T) => Promise<R>, options: ResilientOptions = {}): Promise<R> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  for (let recoveries = 0; ; ) {
    try {
      await state.sync();
      if (recoveries === 0 && restartCount() > 0) {
        log(`[shoal recovery] rank ${comm.rank}: replacement (restart ${restartCount()}) joined; resuming after commit ${state.commits}`);
      }
      return await loop(state.value);
    } catch (err) {
      if (!canRecover(comm, err)) throw err;
      const t0 = performance.now();
      const cause = (err as Error).message.split('\n')[0];
      log(`[shoal recovery] rank ${comm.rank}: ${cause}; rolling back to commit ${state.commits} and waiting for the replacement`);
      state.restore();
      await comm.recover();
      recoveries++;
      log(`[shoal recovery] rank ${comm.rank}: world rebuilt in ${((performance.now() - t0) / 1000).toFixed(2)} s (recovery ${recoveries}); resuming after commit ${state.commits}`);
    }
  }
}
