// Commits of a sharded run (`shoal train lr --servers K --max-restarts/--checkpoint/--resume`):
// the model lives in the servers' tables, the driver's bookkeeping on rank 0. A commit after
// each completed iteration hands the driver's state to lib/recovery's TrainingState; when the
// checkpoint file is due, rank 0 first saves the tables as a PS snapshot generation
// (DIR/ps/gen-*, lib/ps/snapshot_dir.ts) and the checkpoint file names it with its manifest's
// MAC, so checkpoint.bin is the one manifest of both halves: written atomically after the
// snapshot is complete, it always names a whole snapshot of the same iteration. `--resume`
// loads that snapshot into the servers before the driver goes on.
//
// Rollback after a lost worker needs no snapshot: drivers leave the committed iterate's slots
// untouched until the next commit (sharded_lr/slots.ts, ITERATES), so the servers still hold
// it. With --max-restarts every rank keeps the driver's state (one small broadcast per commit),
// so a replaced rank 0 goes on too.
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';

import { ConfigError } from '../../lib/errors.js';
import type { PsClient } from '../../lib/ps/client.js';
import { removeGenerationsBut } from '../../lib/ps/snapshot_dir.js';
import { MANIFEST_FILE } from '../../lib/ps/snapshot_manifest.js';
import { recoveryEnabled } from '../../lib/recovery/recovery_env.js';
import type { TrainingState } from '../../lib/recovery/training_state.js';
import type { StateValue } from '../../lib/recovery/state_codec.js';
import type { Collective } from '../common/collective.js';

/** The PS snapshot a checkpoint file pairs with: a generation under DIR/ps and its manifest's MAC. */
export interface SnapshotRef {
  generation: string;
  mac: string;
}

/** What a sharded run commits: the driver's state (its own plain-data shape) and the snapshot of the last checkpoint file. */
export interface ShardedRunState {
  driver: StateValue | null;
  snapshot: SnapshotRef | null;
}

/**
 * What a driver of a sharded run sees (L-BFGS/OWL-QN, TRON; command_loop.ts makes the calls):
 * the state to go on from, and commit() after every completed iteration, on rank 0, while the
 * other ranks wait for its next command.
 */
export interface ShardedDriverCommits<S> {
  readonly resume: S | null;
  commit(state: S): Promise<void>;
}

export interface ShardedCommitOptions {
  /** Where checkpoint files go (TrainingState's dir); the snapshots go to DIR/ps. */
  dir: string | null;
  /** The directory this job resumes from (its checkpoint file was read into the state). */
  resume: string | null;
}

export function newShardedRunState(): ShardedRunState {
  return { driver: null, snapshot: null };
}

export class ShardedRunCommits<S> implements ShardedDriverCommits<S> {
  #loaded = false;

  constructor(
    private readonly comm: Collective,
    private readonly ps: PsClient,
    private readonly state: TrainingState<ShardedRunState>,
    private readonly options: ShardedCommitOptions,
  ) {}

  get resume(): S | null {
    return this.state.value.driver as S | null;
  }

  /** Whether commits can be used at all: a replacement may roll back to them, or a file is written or read. */
  get active(): boolean {
    return recoveryEnabled() || this.options.dir !== null || this.options.resume !== null;
  }

  /** Whether every rank keeps the committed state (then workers call follow() on each commit). */
  get replicated(): boolean {
    return recoveryEnabled() && this.comm.size > 1;
  }

  /**
   * Rank 0, before the driver runs: in a resumed job whose servers are still empty, the
   * tables go back to the checkpoint's snapshot. Later attempts (after a lost worker), and a
   * replacement rank 0 (same argv, --resume included), find the servers holding rows: as the
   * last commit left them. `serverRows` counts the rows of the model's table.
   */
  async prepare(serverRows: () => Promise<number>): Promise<void> {
    if (this.#loaded) return;
    this.#loaded = true;
    const snap = this.state.value.snapshot;
    if (!this.options.resume || !snap || this.state.value.driver === null || (await serverRows()) > 0) return;
    const gen = join(this.options.resume, 'ps', basename(snap.generation));
    let mac: unknown;
    try {
      mac = (JSON.parse(readFileSync(join(gen, MANIFEST_FILE), 'utf8')) as { mac?: unknown }).mac;
    } catch (err) {
      throw new ConfigError('ERR_CONFIG', `--resume: the checkpoint names the parameter-server snapshot ${gen}, which cannot be read: ${(err as Error).message}`);
    }
    if (mac !== snap.mac) throw new ConfigError('ERR_CONFIG', `--resume: ${join(gen, MANIFEST_FILE)} is not the snapshot the checkpoint was written with (its MAC differs)`);
    try {
      await this.ps.load(gen);
    } catch (err) {
      throw new ConfigError('ERR_CONFIG', `--resume: ${(err as Error).message}`);
    }
  }

  /** Rank 0: the driver completed an iteration. Saves the tables first when the checkpoint file is due. */
  async commit(driver: S): Promise<void> {
    const { dir } = this.options;
    let saved: string | null = null;
    if (dir !== null && this.state.nextCommitWrites) {
      saved = await this.ps.saveGeneration(join(dir, 'ps'));
      const mac = (JSON.parse(readFileSync(join(saved, MANIFEST_FILE), 'utf8')) as { mac: string }).mac;
      this.state.value.snapshot = { generation: basename(saved), mac };
    }
    this.state.value.driver = driver as unknown as StateValue;
    this.state.commit();
    // The file names the new generation now; the older ones are no checkpoint's any more.
    if (saved) await removeGenerationsBut(join(dir!, 'ps'), basename(saved));
  }

  /** Collective (replicated only), after rank 0's commit(): every rank takes the committed state. */
  async follow(): Promise<void> {
    await this.state.sync();
  }
}
