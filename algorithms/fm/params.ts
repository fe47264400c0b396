// FM trainer parameters: flags, defaults, validation.
import type { FlagTable } from '../../lib/cli_flags.js';
import { COMMON_FLAGS, flagHelp, parseCommon, type CommonParams } from '../ps_trainer/flags.js';

export type FmTask = 'regression' | 'binary';

export interface FmParams extends CommonParams {
  task: FmTask;
  factors: number;
  /** AdaGrad step size (server-side updater). */
  lr: number;
  eps: number;
  l2w: number;
  l2v: number;
  initStd: number;
}

export const FM_DEFAULTS = {
  task: 'regression' as FmTask,
  factors: 8,
  lr: 0.05,
  eps: 1e-8,
  l2w: 0.1,
  l2v: 0.1,
  /** L2 default of --task binary (logistic gradients are smaller than squared-loss ones). */
  binaryL2: 0.05,
  initStd: 0.01,
  epochs: 20,
  batch: 128,
  staleness: Infinity,
};

export const FM_FLAGS = {
  ...COMMON_FLAGS,
  task: { kind: 'choice', choices: ['regression', 'binary'], help: 'squared loss (RMSE) or logistic loss (AUC) (default regression)' },
  factors: { kind: 'int', min: 1, max: 4096, help: `factors k per feature (default ${FM_DEFAULTS.factors})` },
  lr: { kind: 'number', positive: true, help: `AdaGrad learning rate on the servers (default ${FM_DEFAULTS.lr})` },
  eps: { kind: 'number', positive: true, help: `AdaGrad epsilon (default ${FM_DEFAULTS.eps})` },
  l2: { kind: 'number', min: 0, help: 'L2 on both w and v (per occurrence)' },
  'l2-w': { kind: 'number', min: 0, help: `L2 on w (default ${FM_DEFAULTS.l2w}; binary ${FM_DEFAULTS.binaryL2})` },
  'l2-v': { kind: 'number', min: 0, help: `L2 on v (default ${FM_DEFAULTS.l2v}; binary ${FM_DEFAULTS.binaryL2})` },
  'init-std': { kind: 'number', min: 0, help: `std of the normal initialisation (default ${FM_DEFAULTS.initStd})` },
} as const satisfies FlagTable;

export const FM_USAGE = `usage: shoal train fm --train FILE [--test FILE] [--task regression|binary] [--factors K] [-np N] [--servers K] [options]

Order-2 factorization machine trained with AdaGrad on the parameter servers; asynchronous
(ASP) by default, SSP with --staleness S.

${flagHelp(FM_FLAGS)}`;

/** Parses `shoal train fm` flags. @throws {UsageError} */
export function parseFmArgs(argv: readonly string[]): FmParams {
  const cmd = 'shoal train fm';
  const { f, common } = parseCommon(cmd, argv, FM_FLAGS, FM_USAGE, FM_DEFAULTS);
  const l2 = f['l2'];
  const task = (f['task'] ?? FM_DEFAULTS.task) as FmTask;
  return {
    ...common,
    task,
    factors: f['factors'] ?? FM_DEFAULTS.factors,
    lr: f['lr'] ?? FM_DEFAULTS.lr,
    eps: f['eps'] ?? FM_DEFAULTS.eps,
    l2w: f['l2-w'] ?? l2 ?? (task === 'binary' ? FM_DEFAULTS.binaryL2 : FM_DEFAULTS.l2w),
    l2v: f['l2-v'] ?? l2 ?? (task === 'binary' ? FM_DEFAULTS.binaryL2 : FM_DEFAULTS.l2v),
    initStd: f['init-std'] ?? FM_DEFAULTS.initStd,
  };
}
