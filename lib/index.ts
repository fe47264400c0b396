// Public API of the `shoal` package.
export { init, type InitOptions } from './init.js';
export {
  Communicator,
  sparseOwner,
  type AllReduceOptions,
  type ReduceScatterOptions,
  type AllGathervOptions,
  type SparseOptions,
  type SparseResult,
  type ReduceToOptions,
  type BcastOptions,
  type AllGatherOptions,
  type BarrierOptions,
  type CollectiveOptions,
  type ReduceOp,
} from './communicator.js';
export type { CollectiveBuffer, DType } from './dtype.js';
export {
  ShoalError,
  CollectiveError,
  PeerLostError,
  TimeoutError,
  MismatchError,
  RendezvousError,
  ConfigError,
  type ErrorCode,
} from './errors.js';
export { runJob, type RunOptions, type JobResult, type RankExit } from './launcher.js';
export { PsClient, PsTable } from './ps/client.js';
export { SspClientCache, CachedTable, type SspCacheStats, type CacheableTable } from './ps/ssp_cache.js';
export type { TableOptions, UpdaterOptions, InitOptions as TableInitOptions, ConsistencyOptions } from './ps/table_options.js';
export { sparseAllReduce, allGatherObject, bcastObject, type SparseRows } from '../collectives/index.js';
export { TrainingState, readCheckpoint, type TrainingStateOptions, type CheckpointMeta } from './recovery/training_state.js';
export { resilient, type ResilientOptions } from './recovery/resilient.js';
export { recoveryEnabled, restartCount } from './recovery/recovery_env.js';
export { encodeState, decodeState } from './recovery/state_codec.js';
export type { RestartRecord } from './launcher.js';
export { ParamScheduler, type ParamSchedulerOptions, type SchedulePolicy, type DependencyCheck } from './schedule/param_scheduler.js';
export { runScheduledRounds, type ScheduledRoundsOptions, type ScheduledRoundsResult, type RoundInfo } from './schedule/scheduled_rounds.js';
export { Pipeline, PipelineError, PipelineCancelledError, range, type StageOptions, type StageContext, type StageFn, type StageStats } from './pipeline.js';
