// Worker loss for the PS trainers (FTRL, FM), KunPeng style: workers keep nothing precious.
// The model lives on the parameter servers; what a worker adds is its position in its data
// shard, and that goes to the servers too, in a small `progress` table (one row per worker
// rank, `assign` updater, ASP), pushed right after every model push. A replacement worker
// (`--max-restarts`, SHOAL_RESTART > 0) therefore
//   1. reads its row: the epoch and minibatch after its last acknowledged model push, and the
//      epoch's loss so far;
//   2. calls ps.clock() up to the clock that position implies (servers keep the max of what a
//      worker sent, so clocks the dead process had already sent are no-ops and the SSP/BSP
//      bound holds survivors exactly until the replacement has redone the lost minibatches);
//   3. continues from there: at most one push period of minibatches (those between the last
//      acknowledged push and the death) is applied twice; nothing is skipped.
//
// Collectives. The trainers use the world communicator only in "rounds" that every rank runs
// in the same order at the same data position (the start, the end of every epoch, checkpoints,
// the end of training), each identified by a key that grows with the position. When a worker
// dies, survivors are usually inside PS calls (a pull held back by the SSP bound waits for the
// dead worker's clock), not collectives, while the replacement's init() waits for them to join
// the next world epoch. So a watcher notices the broken communicator (the coordinator breaks it
// when it reports the loss) and rebuilds the world in the background (comm.recover()) while the
// training loop keeps waiting on the servers. Every world epoch starts with the same
// "handshake" round on every rank: the trainer's setup collectives (shard sizes, label
// statistics), which a replacement needs and survivors recompute to stay in step, then an
// allReduce(max) of the key of the last round each rank completed (survivors know it exactly;
// a replacement says the last round before its predecessor's recorded position). A round whose
// key is not above the agreed key is skipped, so a replacement never waits in a round the
// others have passed, and a round interrupted by the loss is run again by everyone after the
// rebuild (a replacement that resumes at a checkpoint position joins that round first).
//
// The same table makes --checkpoint/--resume work: a checkpoint round (all ranks have pushed
// everything up to the same position) has rank 0 write a PS snapshot (every table, progress
// included) between two barriers, and --resume loads it before the first handshake, after
// which every rank reads its row like a replacement does.
//
// Must not import the native layer (the trainers run in single-process tests): whether the
// job replaces workers and whether this process is a replacement are passed in.
import type { Collective } from '../common/collective.js';
import type { KvTable } from './kv.js';

/** Floats per progress row. */
export const PROGRESS_DIM = 8;

/** A worker's recorded position: the next minibatch to run and the epoch's statistics so far. */
export interface Progress {
  /** 1-based epoch of the next minibatch. */
  epoch: number;
  /** Index of the next minibatch in that epoch (steps: the epoch's minibatches are all done). */
  step: number;
  /** The epoch's loss sum over the rows done so far. */
  loss: number;
  /** Trainer-specific epoch counters (FTRL: clips, rollbacks). */
  counters: [number, number];
  /** Workers of the job that wrote it (filled in by record()). */
  workers?: number;
}

/** Row layout: [valid, epoch, step hi, step lo, loss, counter0, counter1, workers]; integers split so float32 keeps them exact. */
export function encodeProgress(p: Progress): Float32Array {
  const row = new Float32Array(PROGRESS_DIM);
  row[0] = 1;
  row[1] = p.epoch;
  row[2] = Math.floor(p.step / 2 ** 20);
  row[3] = p.step % 2 ** 20;
  row[4] = p.loss;
  row[5] = p.counters[0];
  row[6] = p.counters[1];
  row[7] = p.workers ?? 0;
  return row;
}

export function decodeProgress(row: ArrayLike<number>): Progress | null {
  if (row[0] !== 1) return null;
  return { epoch: row[1]!, step: row[2]! * 2 ** 20 + row[3]!, loss: row[4]!, counters: [row[5]!, row[6]!], workers: row[7]! };
}

/** The world communicator's extra surface (Communicator has it; localCollective does not). */
interface Rebuildable {
  readonly broken?: boolean;
  recover?(options?: { timeoutMs?: number }): Promise<void>;
}

export interface PsRecoveryOptions {
  /** The job replaces lost workers (SHOAL_MAX_RESTARTS > 0). */
  enabled?: boolean;
  /** This process's restart number (SHOAL_RESTART; 0: an original worker). */
  restart?: number;
  /** The progress table (dim PROGRESS_DIM, 'assign', ASP); null: positions are not recorded. */
  progress?: KvTable | null;
  /** ps.clock(), for the replacement's catch-up. */
  clock?: () => Promise<void>;
  /** --checkpoint DIR: rank 0 writes PS snapshots here in checkpoint rounds. */
  checkpointDir?: string | null;
  /** --resume DIR: rank 0 loads this snapshot before the first handshake. */
  resumeDir?: string | null;
  /** Writes / loads a PS snapshot (ps.save / ps.load). */
  save?: (dir: string) => Promise<void>;
  load?: (dir: string) => Promise<void>;
  /** Where recovery is reported (default stderr). */
  log?: (line: string) => void;
  /** How often the watcher looks at the communicator (ms, default 50). */
  watchMs?: number;
  /**
   * Record the position at most this often (ms, default 100; 0: after every push). A push per
   * minibatch costs FM up to half its speed on small minibatches; the price of a longer
   * interval is that a replacement may redo (apply twice) that much of its predecessor's work.
   */
  recordEveryMs?: number;
}

/**
 * Whether a mid-epoch checkpoint round follows minibatch `step` (0-based) of `epoch` (1-based):
 * every `every` minibatches of the run (0: never), except after an epoch's last minibatch,
 * where the epoch's own round checkpoints.
 */
export function checkpointDue(every: number, epoch: number, step: number, steps: number): boolean {
  return every > 0 && ((epoch - 1) * steps + step + 1) % every === 0 && step !== steps - 1;
}

const isPeerLost = (err: unknown): boolean => (err as { code?: unknown } | null)?.code === 'ERR_PEER_LOST';

/**
 * One worker's side of recovery in a PS trainer; see the header. Without `enabled` it is a thin
 * pass-through: rounds run once, errors propagate, nothing is watched.
 */
export class PsRecovery {
  readonly #comm: Collective & Rebuildable;
  readonly #o: PsRecoveryOptions;
  readonly #log: (line: string) => void;
  /** Key of the last round completed (agreed in every handshake). */
  #done = 0;
  #setup: (() => Promise<void>) | null = null;
  #positionRound: ((p: Progress) => number) | null = null;
  #recovering: Promise<void> | null = null;
  #fatal: unknown = null;
  #timer: ReturnType<typeof setInterval> | null = null;
  #pending: Promise<void> = Promise.resolve();
  #recoveries = 0;
  #lastRecord = -Infinity;
  #skipped: Progress | null = null;
  /** Date.now() of the replacement's first recorded push (measurements). */
  firstPushAt: number | null = null;
  /** Date.now() when this process started training (after setup). */
  readonly createdAt = Date.now();

  constructor(comm: Collective, options: PsRecoveryOptions = {}) {
    this.#comm = comm as Collective & Rebuildable;
    this.#o = options;
    this.#log = options.log ?? ((line) => process.stderr.write(`${line}\n`));
  }

  /** The job can rebuild its world after a loss. */
  get enabled(): boolean {
    return !!this.#o.enabled && typeof this.#comm.recover === 'function' && this.#comm.size > 1;
  }

  get isReplacement(): boolean {
    return (this.#o.restart ?? 0) > 0;
  }

  /** World rebuilds this rank took part in. */
  get recoveries(): number {
    return this.#recoveries;
  }

  /**
   * The first collectives of the job: loads --resume (rank 0, original workers only), runs the
   * handshake with `setup` (kept and re-run after every rebuild), starts the watcher, and
   * returns this worker's recorded position (null: start from the beginning).
   * `positionRound` gives the key of the round at a recorded position (the first round a
   * worker there has not necessarily finished); it may use what `setup` computed.
   */
  async begin(setup: () => Promise<void>, positionRound?: (p: Progress) => number): Promise<Progress | null> {
    this.#setup = setup;
    this.#positionRound = positionRound ?? null;
    const resume = this.#o.resumeDir ?? null;
    if (resume !== null && !this.isReplacement) {
      await this.round(0.5, async () => {
        if (this.#comm.rank === 0) {
          if (!this.#o.load) throw new Error('--resume: this trainer cannot load a parameter-server snapshot');
          await this.#o.load(resume);
          this.#log(`[ps recovery] rank 0: loaded the parameter-server snapshot ${resume}`);
        }
        await this.#comm.barrier();
      });
    }
    // The handshake. A loss during it is recovered like one during a round, but the recovery
    // runs the handshake itself in the new world: running it here again would put this rank
    // one handshake ahead of the replacement's (a MismatchError, or a hang when the
    // replacement is already training and the SSP bound holds it for this rank's clock).
    try {
      await this.#handshake();
    } catch (err) {
      if (!this.enabled || !isPeerLost(err)) throw err;
      this.#startRecovery(err);
    }
    if (this.#recovering) await this.#recovering;
    if (this.#fatal) throw this.#fatal;
    if (this.enabled) {
      this.#timer = setInterval(() => this.#watch(), this.#o.watchMs ?? 50);
      this.#timer.unref();
    }
    if (!this.#o.progress || (!this.isReplacement && resume === null)) return null;
    const row = await this.#o.progress.pull(new BigUint64Array([BigInt(this.#comm.rank)]));
    const p = decodeProgress(row);
    if (p && p.workers !== undefined && p.workers !== 0 && p.workers !== this.#comm.size) {
      throw new Error(`--resume ${resume}: the snapshot's positions were written by a job of ${p.workers} workers, this job has ${this.#comm.size} (the data shards would differ)`);
    }
    return p;
  }

  /**
   * Runs `fn` (collectives) as the round `key` on every rank. After a loss every rank runs the
   * interrupted round again; a round the agreed key has passed is skipped (returns null).
   */
  async round<T>(key: number, fn: () => Promise<T>): Promise<T | null> {
    for (;;) {
      if (this.#recovering) await this.#recovering;
      if (this.#fatal) throw this.#fatal;
      if (key <= this.#done) return null;
      try {
        const v = await fn();
        this.#done = key;
        return v;
      } catch (err) {
        if (!this.enabled) throw err;
        // The watcher began rebuilding the world while this round ran outside collectives (rank
        // 0 writing a checkpoint): its next collective finds the old engine closed, which is
        // the loss too. Run the round again in the new world.
        if (this.#recovering) continue;
        if (!isPeerLost(err)) throw err;
        this.#startRecovery(err);
      }
    }
  }

  /**
   * Records this worker's position after a model push was acknowledged, at most every
   * `recordEveryMs` unless `force` (epoch ends, checkpoints: flush() writes a skipped one). The
   * push is not awaited here (it overlaps the next minibatch); the next record or flush() does.
   */
  async record(p: Progress, force = false): Promise<void> {
    const table = this.#o.progress;
    if (!table) return;
    const now = performance.now();
    if (!force && now - this.#lastRecord < (this.#o.recordEveryMs ?? 100)) {
      this.#skipped = p;
      return;
    }
    this.#lastRecord = now;
    this.#skipped = null;
    await this.#pending;
    if (this.isReplacement && this.firstPushAt === null) {
      this.firstPushAt = Date.now();
      this.#log(`[ps recovery] rank ${this.#comm.rank}: replacement's first push at epoch ${p.epoch} minibatch ${p.step} (${this.firstPushAt - this.createdAt} ms after joining the job, t=${this.firstPushAt})`);
    }
    this.#pending = table.push(new BigUint64Array([BigInt(this.#comm.rank)]), encodeProgress({ ...p, workers: this.#comm.size }));
  }

  /** Writes a position record() skipped and waits for the last one to reach the servers. */
  async flush(): Promise<void> {
    if (this.#skipped) await this.record(this.#skipped, true);
    await this.#pending;
  }

  /** Sends clocks until this client's clock is `clocks` (n clocks, 64 in flight). */
  async catchUpClock(clocks: number): Promise<void> {
    const clock = this.#o.clock;
    if (!clock || clocks <= 0) return;
    for (let i = 0; i < clocks; ) {
      const batch: Promise<void>[] = [];
      for (let j = 0; j < 64 && i < clocks; j++, i++) batch.push(clock());
      await Promise.all(batch);
    }
  }

  /**
   * Where this worker starts, from the position begin() returned: (epoch 1, step 0) for a fresh
   * worker; for a replacement or --resume, the recorded position (clamped to the run) after
   * catching up its clock (servers keep each worker's highest clock, so clocks the lost process
   * had sent are no-ops). Logs the resume as `[ps recovery] ...`.
   */
  async startAt(
    resume: Progress | null,
    epochs: number,
    steps: number,
    algorithm: string,
    log: (line: string) => void,
  ): Promise<{ startEpoch: number; startStep: number; resumedAt: { epoch: number; step: number } | null }> {
    if (!resume || resume.epoch < 1) return { startEpoch: 1, startStep: 0, resumedAt: null };
    const startEpoch = Math.min(resume.epoch, epochs + 1);
    const startStep = Math.min(resume.step, steps);
    const t = performance.now();
    const clocks = (startEpoch - 1) * steps + startStep;
    await this.catchUpClock(clocks);
    log(
      `[ps recovery] rank ${this.#comm.rank}: resuming ${algorithm} at epoch ${startEpoch} minibatch ${startStep}/${steps} (skipping ${clocks} minibatches already pushed); clock caught up to ${clocks} in ${((performance.now() - t) / 1000).toFixed(2)} s`,
    );
    return { startEpoch, startStep, resumedAt: { epoch: startEpoch, step: startStep } };
  }

  /** Checkpoint: (all ranks) barrier, rank 0 saves the PS snapshot, barrier. Call inside a round. */
  async checkpoint(label: string): Promise<void> {
    const dir = this.#o.checkpointDir ?? null;
    if (dir === null || !this.#o.save) return;
    await this.flush();
    await this.#comm.barrier();
    if (this.#comm.rank === 0) {
      const t0 = performance.now();
      await this.#o.save(dir);
      this.#log(`[ps recovery] rank 0: checkpoint ${label} written to ${dir} in ${((performance.now() - t0) / 1000).toFixed(2)} s`);
    }
    await this.#comm.barrier();
  }

  /** Progress rows are recorded (worker recovery or checkpoints): the trainers then run their steps in order, without the pipeline. */
  get recordsProgress(): boolean {
    return !!this.#o.progress;
  }

  get checkpointing(): boolean {
    return (this.#o.checkpointDir ?? null) !== null && !!this.#o.save;
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  async #handshake(): Promise<void> {
    if (this.#setup) await this.#setup();
    const buf = new Float64Array([Math.max(this.#done, await this.#predecessorRounds())]);
    await this.#comm.allReduce(buf, { op: 'max' });
    this.#done = buf[0]!;
  }

  /**
   * A replacement's predecessor had finished every round before its recorded position, which
   * the others may not have: a reduceTo round completes on the other ranks before the root,
   * so a rank can be a round or an epoch ahead of the root when it dies. Agreeing on less would
   * have the replacement skip rounds the others run (a MismatchError or a hang).
   */
  async #predecessorRounds(): Promise<number> {
    if (!this.isReplacement || !this.#positionRound || !this.#o.progress) return 0;
    const p = decodeProgress(await this.#o.progress.pull(new BigUint64Array([BigInt(this.#comm.rank)])));
    return p ? this.#positionRound(p) - 1 : 0;
  }

  #watch(): void {
    if (this.#recovering || this.#fatal || !this.#comm.broken) return;
    // The communicator is broken: learn why from the error its next op rejects with.
    this.#recovering = this.#comm.barrier().then(
      () => {
        this.#recovering = null;
      },
      (err: unknown) => {
        this.#recovering = null;
        if (isPeerLost(err)) this.#startRecovery(err);
        else this.#fatal = err;
        return this.#recovering ?? undefined;
      },
    );
  }

  #startRecovery(err: unknown): void {
    if (this.#recovering) return;
    const cause = ((err as Error)?.message ?? String(err)).split('\n')[0] ?? '';
    this.#recovering = this.#recover(cause).finally(() => {
      this.#recovering = null;
    });
  }

  async #recover(cause: string): Promise<void> {
    const rank = this.#comm.rank;
    for (let attempt = 0; ; attempt++) {
      const t0 = performance.now();
      this.#log(`[ps recovery] rank ${rank}: ${cause}; rebuilding the world with the replacement (last round ${this.#done}); training goes on against the servers meanwhile`);
      try {
        await this.#comm.recover!();
        await this.#handshake();
        this.#recoveries++;
        this.#log(`[ps recovery] rank ${rank}: world rebuilt in ${((performance.now() - t0) / 1000).toFixed(2)} s (recovery ${this.#recoveries}); agreed last round ${this.#done}`);
        return;
      } catch (err) {
        if (!isPeerLost(err) || attempt >= 8) {
          this.#fatal = err;
          return;
        }
      }
    }
  }
}
