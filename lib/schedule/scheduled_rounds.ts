// The round loop of a scheduled model-parallel algorithm (Petuum STRADS's schedule / push /
// pull), pipelined: round t+1 is scheduled while round t's partial results travel.
//
//   round t:   push(S_t)  -- workers compute partial results for the parameters S_t
//              pull(S_t)  -- partials combined, parameters updated (workers and/or servers)
//   meanwhile: schedule() picks S_{t+1} from the priorities known before round t
//
// Collective order: every round calls push() and then schedule() without awaiting either, so if
// both submit collectives on one communicator before their first `await`, every rank submits
// them in the same order (push's first). A dependency check that awaits anything before its
// collective should use its own communicator (comm.split) instead.
import { invalidArgument } from '../errors.js';
import type { DependencyCheck, ParamScheduler } from './param_scheduler.js';

export interface RoundInfo {
  /** 0-based round number. */
  round: number;
  params: Uint32Array;
  /** What pull() returned: each parameter's change. */
  changes: Float64Array;
  /** Parameter updates so far, this round's included. */
  updates: number;
}

export interface ScheduledRoundsOptions<Partial> {
  scheduler: ParamScheduler;
  /** The candidates' correlations (the 'dependency' policy). */
  dependency?: DependencyCheck;
  /** Workers: partial results for `params` (e.g. an allReduce of local sums, submitted at once). */
  push(params: Uint32Array, round: number): Promise<Partial> | Partial;
  /** Combines and applies the partials; returns each parameter's change (it sets its priority). */
  pull(params: Uint32Array, partial: Partial, round: number): Promise<Float64Array> | Float64Array;
  /** After each round. Return true to stop (every rank must decide alike). */
  onRound?(info: RoundInfo): Promise<boolean | void> | boolean | void;
  maxRounds: number;
}

export interface ScheduledRoundsResult {
  rounds: number;
  updates: number;
}

/** Runs rounds until onRound says stop or maxRounds ran. */
export async function runScheduledRounds<Partial>(opts: ScheduledRoundsOptions<Partial>): Promise<ScheduledRoundsResult> {
  const { scheduler, dependency, push, pull, onRound, maxRounds } = opts;
  if (!Number.isSafeInteger(maxRounds) || maxRounds < 0) throw invalidArgument('runScheduledRounds', 'maxRounds', 'an integer >= 0', maxRounds, true);
  let updates = 0;
  let rounds = 0;
  let next: Promise<Uint32Array> | null = maxRounds > 0 ? scheduler.schedule(dependency) : null;
  while (next) {
    const params = await next;
    const round = rounds++;
    const pushed = push(params, round);
    // Scheduling round t+1 overlaps round t: its local work runs while push's messages travel.
    next = rounds < maxRounds ? scheduler.schedule(dependency) : null;
    let stop: boolean | void;
    try {
      const changes = await pull(params, await pushed, round);
      if (!(changes instanceof Float64Array) || changes.length !== params.length) {
        throw invalidArgument('runScheduledRounds', 'pull() result', `a Float64Array of ${params.length} changes`, changes, true);
      }
      scheduler.report(params, changes);
      updates += params.length;
      stop = await onRound?.({ round, params, changes, updates });
    } catch (err) {
      // Settle the schedule in flight (its collective) before failing, so no op is left dangling.
      await next?.catch(() => undefined);
      throw err;
    }
    if (stop) {
      // The next round's schedule is already in flight on every rank: let it finish, unused.
      await next;
      next = null;
    }
  }
  return { rounds, updates };
}
