// Model-parallel Lasso (Petuum STRADS's flagship example) on the SDK's scheduler
// (lib/schedule): each round the scheduler picks up to `parallel` coordinates, push() sums
// every rank's share of their gradients in one allReduce, pull() gives every rank the same new
// weights and residuals (lasso_state.ts) and, with parameter servers, sends the changes to the
// model table there. The next round is scheduled while this one's allReduce is in flight.
import type { Collective } from '../common/collective.js';
import type { CsrData } from '../common/dataset.js';
import { ParamScheduler, type SchedulePolicy } from '../../lib/schedule/param_scheduler.js';
import { runScheduledRounds } from '../../lib/schedule/scheduled_rounds.js';
import { CorrelationCache } from './correlation_cache.js';
import { LassoState } from './lasso_state.js';

export interface LassoParams {
  lambda: number;
  scheduler: SchedulePolicy;
  /** Coordinates per round. */
  parallel: number;
  /** Dependency scheduler: candidates drawn per round (default 2 * parallel). */
  candidates?: number;
  /** Dependency scheduler: max |correlation| within a round. */
  threshold: number;
  /** Dependency scheduler: priority floor (fraction of the mean priority). */
  eta: number;
  seed: number;
  /** Stop after this many passes (numFeatures coordinate updates each). */
  maxPasses: number;
  /** Stop when a pass lowers the objective by less than tol (relative). */
  tol: number;
}

export interface HistoryPoint {
  /** Coordinate updates so far. */
  updates: number;
  objective: number;
}

export interface LassoResult {
  w: Float64Array;
  objective: number;
  history: HistoryPoint[];
  updates: number;
  rounds: number;
  converged: boolean;
  /** Stopped: the objective ended a pass above its start, or stopped being finite (coupled coordinates updated together). */
  diverged: boolean;
  seconds: number;
}

/** Where the model also lives: a parameter-server table whose pushes assign values. */
export interface LassoModelTable {
  push(keys: BigUint64Array, values: Float32Array): Promise<void>;
}

export interface LassoHooks {
  numFeatures: number;
  /** Rank 0 pushes every changed weight here. */
  table?: LassoModelTable | null;
  /** Called with each history point (rank 0 prints it). */
  onHistory?: (p: HistoryPoint, pass: number) => void;
}

export async function trainLasso(comm: Collective, data: CsrData, p: LassoParams, hooks: LassoHooks): Promise<LassoResult> {
  const t0 = performance.now();
  const d = hooks.numFeatures;
  const sq = LassoState.localColumnSquares(data, d);
  const counts = new Float64Array([data.numRows]);
  await comm.allReduce(sq, { op: 'sum' });
  await comm.allReduce(counts, { op: 'sum' });
  const state = new LassoState(data, d, p.lambda, sq.subarray(0, d), counts[0]!);
  const scheduler = new ParamScheduler({
    numParams: d,
    batch: p.parallel,
    policy: p.scheduler,
    threshold: p.threshold,
    eta: p.eta,
    seed: p.seed,
    ...(p.candidates !== undefined ? { candidates: p.candidates } : {}),
  });
  const correlations = new CorrelationCache(state, comm);
  const history: HistoryPoint[] = [{ updates: 0, objective: sq[d]! / (2 * state.n) }];
  // A point about 8 times per pass (at least once), and the pass-to-pass test for stopping.
  const recordEvery = Math.max(1, Math.floor(d / 8));
  let updatesBefore = 0;
  let passStartObjective = history[0]!.objective;
  let nextPassAt = d;
  let converged = false;
  let diverged = false;
  let pending: Promise<void> | null = null;
  const table = comm.rank === 0 ? (hooks.table ?? null) : null;

  const { rounds, updates } = await runScheduledRounds<Float64Array>({
    scheduler,
    // Every round updates at least one coordinate; onRound stops at maxPasses * d updates.
    maxRounds: Math.ceil(p.maxPasses * d),
    // Both submit their allReduce before any await: the same order on every rank.
    push: (params) => comm.allReduce(state.partialSums(params, new Float64Array(params.length + 1)), { op: 'sum' }),
    dependency: (candidates) => correlations.matrix(candidates),
    pull: async (params, sums) => {
      // sums[P] is the residual norm before this round: the objective at `updatesBefore`.
      const objective = state.objective(sums[params.length]!);
      if (updatesBefore === 0 || updatesBefore - history[history.length - 1]!.updates >= recordEvery) {
        if (updatesBefore > 0) history.push({ updates: updatesBefore, objective });
        hooks.onHistory?.({ updates: updatesBefore, objective }, Math.floor(updatesBefore / d));
      }
      // Coordinate descent from w = 0 never ends a pass above f(0) unless coupled coordinates
      // of one round overshoot together (Shotgun's divergence): stop instead of running away.
      if (!Number.isFinite(objective) || (updatesBefore >= nextPassAt && objective > history[0]!.objective)) diverged = true;
      else if (updatesBefore >= nextPassAt) {
        // A rise is no convergence: too many coupled coordinates in a round overshoot (Shotgun).
        const decrease = passStartObjective - objective;
        converged = decrease >= 0 && decrease <= p.tol * Math.abs(objective);
        passStartObjective = objective;
        nextPassAt += d;
      }
      const changes = state.applyUpdates(params, sums);
      updatesBefore += params.length;
      if (table) {
        // One push in flight: the model on the servers trails by at most a round.
        await pending;
        pending = pushChanged(table, params, changes, state.w);
      }
      return changes;
    },
    onRound: ({ updates: done }) => converged || diverged || done >= p.maxPasses * d,
  });
  await pending;
  const rr = new Float64Array([0]);
  for (let i = 0; i < state.residual.length; i++) rr[0]! += state.residual[i]! * state.residual[i]!;
  await comm.allReduce(rr, { op: 'sum' });
  const objective = state.objective(rr[0]!);
  if (history[history.length - 1]!.updates !== updates) history.push({ updates, objective });
  return { w: state.w, objective, history, updates, rounds, converged, diverged, seconds: (performance.now() - t0) / 1000 };
}

/** Sends the new value of every coordinate that changed. */
function pushChanged(table: LassoModelTable, params: Uint32Array, changes: Float64Array, w: Float64Array): Promise<void> | null {
  let nonzero = 0;
  for (let i = 0; i < changes.length; i++) if (changes[i] !== 0) nonzero++;
  if (nonzero === 0) return null;
  const keys = new BigUint64Array(nonzero);
  const values = new Float32Array(nonzero);
  let at = 0;
  for (let i = 0; i < changes.length; i++) {
    if (changes[i] === 0) continue;
    keys[at] = BigInt(params[i]!);
    values[at++] = w[params[i]!]!;
  }
  return table.push(keys, values);
}
