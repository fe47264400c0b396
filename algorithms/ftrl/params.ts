// FTRL trainer parameters: flags, defaults, validation. Defaults reach AUC 0.9023 on a9a in one
// pass single-process (alpha 0.1, beta 1, l1 1, l2 1), the published single-machine reference.
import { usageError, type FlagTable } from '../../lib/cli_flags.js';
import { COMMON_FLAGS, flagHelp, parseCommon, type CommonParams } from '../ps_trainer/flags.js';
import { pipelineBounds } from '../ps_trainer/step_pipeline.js';

export interface FtrlParams extends CommonParams {
  alpha: number;
  beta: number;
  l1: number;
  l2: number;
  /** Push the accumulated (dz, dn) every this many minibatches. */
  pushEvery: number;
  /** Pull fresh w and n every this many minibatches. */
  pullEvery: number;
  /** Keep |w_i| <= trustRegion (projection of the z delta); Infinity = off. */
  trustRegion: number;
  /**
   * How the trust region is kept: 'projection' clips every z delta (default); 'rollback' lets
   * updates run free and, on rank 0, rolls a coordinate whose pulled |w| left [-R, R] back to
   * its last good snapshot (taken every `snapshotEvery` minibatches).
   */
  trustMode: TrustMode;
  /** Rollback mode: record the pulled in-region weights as "last good" every this many minibatches. */
  snapshotEvery: number;
  /**
   * Benchmarks: 'every' = the slow rank sleeps on every minibatch, 'intermittent' = on a seeded
   * random `stragglerProb` of them, 'intermittent-all' = every rank does, each with its own draws.
   */
  straggler: StragglerMode;
  stragglerProb: number;
  /** Learn a bias (key BIAS_KEY, x = 1 on every row). */
  bias: boolean;
}

export type TrustMode = 'projection' | 'rollback';
export type StragglerMode = 'every' | 'intermittent' | 'intermittent-all';

export const FTRL_DEFAULTS = {
  alpha: 0.1,
  beta: 1,
  l1: 1,
  l2: 1,
  pushEvery: 1,
  pullEvery: 1,
  trustRegion: Infinity,
  trustMode: 'projection' as TrustMode,
  snapshotEvery: 10,
  straggler: 'every' as StragglerMode,
  stragglerProb: 0.2,
  epochs: 1,
  batch: 64,
  staleness: 2,
} as const;

export const FTRL_FLAGS = {
  ...COMMON_FLAGS,
  alpha: { kind: 'number', positive: true, help: `learning-rate scale (default ${FTRL_DEFAULTS.alpha})` },
  beta: { kind: 'number', min: 0, help: `learning-rate smoothing (default ${FTRL_DEFAULTS.beta})` },
  l1: { kind: 'number', min: 0, help: `L1 strength lambda1 (default ${FTRL_DEFAULTS.l1})` },
  l2: { kind: 'number', min: 0, help: `L2 strength lambda2 (default ${FTRL_DEFAULTS.l2})` },
  'push-every': { kind: 'int', min: 1, help: 'push accumulated z/n deltas every N minibatches (default 1)' },
  'pull-every': { kind: 'int', min: 1, help: 'pull fresh weights every N minibatches (default 1)' },
  'trust-region': { kind: 'number', positive: true, help: 'keep every |w_i| <= R by clipping z deltas (default off)' },
  'trust-mode': { kind: 'choice', choices: ['projection', 'rollback'], help: 'projection: clip z deltas (default); rollback: restore the last good w of a coordinate that left the region' },
  'snapshot-every': { kind: 'int', min: 1, help: 'rollback mode: record the last good weights every N minibatches (default 10)' },
  straggler: { kind: 'choice', choices: ['every', 'intermittent', 'intermittent-all'], help: 'benchmarks: the slow rank sleeps --slow-ms on every minibatch (default) or on a seeded random --straggler-prob of them; intermittent-all: every rank does, independently' },
  'straggler-prob': { kind: 'number', min: 0, max: 1, help: 'intermittent straggler: probability a minibatch is slowed (default 0.2)' },
  bias: { kind: 'bool', negatable: true, help: 'learn a bias term (default on)' },
} as const satisfies FlagTable;

export const FTRL_USAGE = `usage: shoal train ftrl --train FILE [--test FILE] [-np N] [--servers K] [options]

FTRL-Proximal logistic regression, online, through the parameter server: workers push
deltas of z and n, servers merge them, workers pull w under SSP (--staleness).

${flagHelp(FTRL_FLAGS)}`;

/** Parses `shoal train ftrl` flags. @throws {UsageError}, or HelpRequested for --help */
export function parseFtrlArgs(argv: readonly string[]): FtrlParams {
  const cmd = 'shoal train ftrl';
  const { f, common } = parseCommon(cmd, argv, FTRL_FLAGS, FTRL_USAGE, FTRL_DEFAULTS);
  if (f['trust-mode'] === 'rollback' && f['trust-region'] === undefined) throw usageError(cmd, '--trust-mode rollback needs --trust-region R');
  if (common.pipeline && f['trust-mode'] === 'rollback') throw usageError(cmd, `--${common.prefetch ? 'prefetch' : 'pipeline'} does not combine with --trust-mode rollback (its corrections need a current pull)`);
  // --ps-cache S: FTRL's local z/n are the client cache (index.ts); rows pulled at a window's
  // first minibatch serve S more clocks, so a window is S + 1 minibatches.
  const pullEvery = common.psCache === undefined ? (f['pull-every'] ?? FTRL_DEFAULTS.pullEvery) : Math.max(f['pull-every'] ?? 1, common.psCache + 1);
  if (common.psCache !== undefined && pullEvery > common.psCache + 1) {
    throw usageError(cmd, `--pull-every ${pullEvery} reads rows ${pullEvery - 1} clocks after their pull, more than --ps-cache ${common.psCache} allows (use --pull-every <= ${common.psCache + 1}, or drop it)`);
  }
  // --prefetch: the next window's pull goes out pull-every clocks early: validated here, applied by the worker.
  pipelineBounds(cmd, { ...common, psCache: undefined }, pullEvery);
  return {
    ...common,
    alpha: f['alpha'] ?? FTRL_DEFAULTS.alpha,
    beta: f['beta'] ?? FTRL_DEFAULTS.beta,
    l1: f['l1'] ?? FTRL_DEFAULTS.l1,
    l2: f['l2'] ?? FTRL_DEFAULTS.l2,
    // --ps-cache: the window's deltas leave once, at its end (Petuum's batched updates: they
    // reach the servers at most S clocks late, as the window's reads are at most S clocks old).
    pushEvery: f['push-every'] ?? (common.psCache === undefined ? FTRL_DEFAULTS.pushEvery : pullEvery),
    pullEvery,
    trustRegion: f['trust-region'] ?? FTRL_DEFAULTS.trustRegion,
    trustMode: f['trust-mode'] ?? FTRL_DEFAULTS.trustMode,
    snapshotEvery: f['snapshot-every'] ?? FTRL_DEFAULTS.snapshotEvery,
    straggler: f['straggler'] ?? FTRL_DEFAULTS.straggler,
    stragglerProb: f['straggler-prob'] ?? FTRL_DEFAULTS.stragglerProb,
    bias: f['bias'] ?? true,
  };
}
