// Communicator: the collective API of one group of ranks (the world, or a split of it).
// It validates arguments, hands buffers to its native engine without copying, and maps
// native failures onto lib/errors.ts classes naming op, seq and ranks.
import { invalidArgument, ShoalError } from './errors.js';
import { checkBuffer, dtypeOf, type CollectiveBuffer } from './dtype.js';
import { native, NATIVE_ERROR_CODE, OP_KIND, REDUCE_OP, toShoalError, type NativeComm, type OpName } from './native.js';
import type { CoordinatorClient } from './coordinator_client.js';
import type { PsClient } from './ps/client.js';
import { preciseNow, telemetry } from './telemetry.js';
import { faultBeforeSubmit } from './fault_injection.js';
import { epochOfWorldGroup, worldGroupName } from './coordinator_protocol.js';
import { recoveryEnabled } from './recovery/recovery_env.js';

export type ReduceOp = keyof typeof REDUCE_OP;

export interface CollectiveOptions {
  /** Reject with a TimeoutError if the op has not finished after this many ms (0: no limit). */
  timeoutMs?: number;
}
export interface AllReduceOptions extends CollectiveOptions {
  /** Default 'sum'. */
  op?: ReduceOp;
}
export type ReduceToOptions = AllReduceOptions;
export type BcastOptions = CollectiveOptions;
export type AllGatherOptions = CollectiveOptions;
export type BarrierOptions = CollectiveOptions;
export interface ReduceScatterOptions extends AllReduceOptions {
  /** Elements of each rank's block, one entry per rank (default: send.length / size each). */
  counts?: ArrayLike<number>;
}
export type AllGathervOptions = CollectiveOptions;
export interface SparseOptions extends CollectiveOptions {
  /** Floats per row (default 1): values holds keys.length * dim floats. */
  dim?: number;
}
/** Sparse rows: sorted unique keys and keys.length * dim values, row i for keys[i]. */
export interface SparseResult {
  keys: BigUint64Array;
  values: Float32Array;
}

/**
 * The rank that owns `key` in sparseAllReduce/sparseReduceScatter on `size` ranks: its hash
 * range (splitmix64 mix, then floor(hash * size / 2^64)), as native/collectives/context.h.
 */
export function sparseOwner(key: bigint, size: number): number {
  const M = (1n << 64n) - 1n;
  let z = (key + 0x9e3779b97f4a7c15n) & M;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & M;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & M;
  z ^= z >> 31n;
  return Number((z * BigInt(size)) >> 64n);
}

/** How a communicator reaches the rest of the job; shared by a world and its splits. */
export interface CommunicatorRuntime {
  token: string;
  bindHost: string;
  advertiseHost: string;
  timeoutMs: number;
  opTimeoutMs: number;
  client: CoordinatorClient | null;
  /** The coordinator's latest stall diagnosis, appended to timeout errors. */
  stallDiagnosis?: () => string | null;
  tuning: { smallMessageBytes?: number; smallRootedBytes?: number; smallAllReduceBytes?: number; segmentBytes?: number; spinUs?: number; queueSpinUs?: number; yieldUs?: number; syncWaitUs?: number; cpu?: number; maxFrameBytes?: number; transport?: 'auto' | 'tcp' | 'shm'; shmRingBytes?: number; hierarchical?: boolean | 'phased'; hostId?: string; directReads?: boolean; directMinSliceBytes?: number; testDirectFailAfterStep?: number; testDirectReadDelayMs?: number };
}

/**
 * When the JS event loop last ran its timers. Small collectives can complete synchronously (the
 * sync-wait fast path resolves the Promise at once), so a tight training loop of them runs on
 * microtasks alone and starves every timer: heartbeats, metrics, the straggler detector's data.
 * #submit yields one timer turn when this gets stale.
 */
let lastTimerTurn = Date.now();
const TIMER_STARVATION_MS = 250;
setInterval(() => (lastTimerTurn = Date.now()), 50).unref();

/** FNV-1a, 32 bits: a communicator id every rank derives from the group's name alone. */
export function commIdOf(group: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < group.length; i++) {
    h ^= group.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/**
 * A group of ranks that run collectives together. Every rank of the group must call the
 * same collectives in the same order; buffers are used in place and must not be touched
 * until the returned Promise settles.
 */
export class Communicator {
  /** This process's rank in the group, 0..size-1. */
  readonly rank: number;
  /** Number of ranks in the group. */
  readonly size: number;
  /** The group's name ('world', 'world#2' after two recoveries, or 'world/split0/color1' ...). */
  get group(): string {
    return this.#group;
  }
  /** World rank of each member, by group rank. */
  readonly worldRanks: readonly number[];
  /** How this rank reaches each rank of the group: 'self', 'tcp' or 'shm' (same host). */
  get transports(): readonly string[] {
    return this.#native.transports;
  }
  /**
   * Host index of each rank of the group, as every rank agreed at connect (equal: same host;
   * SHOAL_HOST_ID overrides what a host is). With two hosts or more and a host running two
   * ranks or more, allReduce, reduceTo, bcast and allGather go within hosts, then across.
   */
  get hosts(): readonly number[] {
    return this.#native.hosts;
  }
  /**
   * True when every rank of the group runs on one host and may read the others' memory
   * (process_vm_readv, agreed at connect): large allReduces then reduce straight out of the
   * peers' buffers instead of passing chunks around a ring (SHOAL_DIRECT_READS=0 turns it off).
   */
  get directReads(): boolean {
    return this.#native.directReads;
  }

  #native: NativeComm;
  #group: string;
  #runtime: CommunicatorRuntime;
  #seq = 0;
  // Ops called and ops handed to the engine: equal at every start (#run keeps call order).
  #calls = 0;
  #started = 0;
  /** Ops waiting for a timer turn, in call order (#runAfterTimers). */
  #afterTimers: Array<() => void> = [];
  #splits = 0;
  #closed = false;
  #children = new Set<Communicator>();
  #onClose: Array<() => Promise<void> | void> = [];
  #ps: PsClient | null = null;

  /** @internal Use init() or split(). */
  constructor(nativeComm: NativeComm, rank: number, size: number, group: string, worldRanks: number[], runtime: CommunicatorRuntime) {
    this.#native = nativeComm;
    this.rank = rank;
    this.size = size;
    this.#group = group;
    this.worldRanks = worldRanks;
    this.#runtime = runtime;
  }

  /**
   * The job's parameter servers (start the job with `shoal run --servers K`).
   * @throws {ShoalError} ERR_INVALID_USAGE when the job has no servers.
   */
  get ps(): PsClient {
    if (!this.#ps) {
      throw new ShoalError('ERR_INVALID_USAGE', 'this job has no parameter servers: start it with `shoal run -np N --servers K ...`', { rank: this.rank });
    }
    return this.#ps;
  }

  /** @internal */
  attachPs(ps: PsClient): void {
    this.#ps = ps;
    this.#onClose.unshift(() => ps.close());
  }

  /** @internal The coordinator reported a lost parameter server. */
  psLost(serverRank: number, reason: string): void {
    this.#ps?.serverLost(serverRank, reason);
  }

  /** @internal A replacement parameter server restored its data and listens at host:port. */
  psJoined(serverRank: number, host: string, port: number): void {
    this.#ps?.serverJoined(serverRank, host, port);
  }

  /** @internal A drained parameter server left the job (coordinator 'peerLeft'). */
  psLeft(serverRank: number): void {
    this.#ps?.serverLeft(serverRank);
  }

  /** True once an op failed for good (peer lost, mismatch, timeout) or abort() was called. */
  get broken(): boolean {
    return this.#native.broken;
  }

  /**
   * Reduces `buf` across all ranks in place: afterwards every rank holds op(buf of rank 0, ..., rank size-1),
   * bit-identical on every rank.
   * @example await comm.allReduce(grad, { op: 'sum' });
   * @throws {PeerLostError | MismatchError | TimeoutError | CollectiveError}
   */
  async allReduce<T extends CollectiveBuffer>(buf: T, options: AllReduceOptions = {}): Promise<T> {
    checkBuffer('allReduce', 'buf', buf);
    const op = this.#reduceOp('allReduce', options.op);
    await this.#submit('allReduce', buf, null, op, -1, options);
    return buf;
  }

  /** Reduces every rank's `buf` into `buf` on `root`; other ranks' buffers are unchanged. */
  async reduceTo<T extends CollectiveBuffer>(buf: T, root: number, options: ReduceToOptions = {}): Promise<T> {
    checkBuffer('reduceTo', 'buf', buf);
    this.#checkRoot('reduceTo', root);
    const op = this.#reduceOp('reduceTo', options.op);
    await this.#submit('reduceTo', buf, null, op, root, options);
    return buf;
  }

  /** Copies `buf` of `root` into `buf` on every other rank (same type and length everywhere). */
  async bcast<T extends CollectiveBuffer>(buf: T, root: number, options: BcastOptions = {}): Promise<T> {
    checkBuffer('bcast', 'buf', buf);
    this.#checkRoot('bcast', root);
    await this.#submit('bcast', buf, null, 0, root, options);
    return buf;
  }

  /** recv = concat over ranks of `send`; recv.length must be send.length * size. */
  async allGather<T extends CollectiveBuffer>(send: T, recv: T, options: AllGatherOptions = {}): Promise<T> {
    checkBuffer('allGather', 'send', send);
    checkBuffer('allGather', 'recv', recv);
    if (dtypeOf(send) !== dtypeOf(recv)) {
      throw invalidArgument('allGather', 'recv', `a ${send.constructor.name} like 'send'`, recv);
    }
    if (recv.length !== send.length * this.size) {
      throw invalidArgument('allGather', 'recv', `length send.length * size = ${send.length * this.size}`, recv, true);
    }
    await this.#submit('allGather', send, recv, 0, -1, options);
    return recv;
  }

  /**
   * Reduces `send` across ranks and scatters the result (MPI_Reduce_scatter): `send` holds
   * sum(counts) elements in `size` blocks, block i = counts[i] elements; afterwards `recv`
   * (counts[rank] elements, not overlapping `send`) holds op over every rank's block `rank`.
   * Without counts every block is send.length / size. Ring algorithm; `send` is unchanged.
   * @example await comm.reduceScatter(grad, myShard, { op: 'sum' });
   */
  async reduceScatter<T extends CollectiveBuffer>(send: T, recv: T, options: ReduceScatterOptions = {}): Promise<T> {
    checkBuffer('reduceScatter', 'send', send);
    checkBuffer('reduceScatter', 'recv', recv);
    const op = this.#reduceOp('reduceScatter', options.op);
    let counts: number[];
    if (options.counts === undefined) {
      if (send.length % this.size !== 0) {
        throw invalidArgument('reduceScatter', 'send', `a length divisible by size = ${this.size} (or pass options.counts)`, send, true);
      }
      counts = new Array<number>(this.size).fill(send.length / this.size);
    } else {
      counts = this.#counts('reduceScatter', options.counts);
    }
    await this.#run('reduceScatter', send.byteLength + recv.byteLength, options, () =>
      this.#native.reduceScatter(send, recv, counts, op, this.#timeout('reduceScatter', options)),
    );
    return recv;
  }

  /**
   * recv = concat over ranks of `send`, where rank i sends counts[i] elements (0 allowed);
   * every rank passes the same counts and recv holds sum(counts). Ring algorithm.
   * @example await comm.allGatherv(mine, all, [3, 0, 5]);
   */
  async allGatherv<T extends CollectiveBuffer>(send: T, recv: T, counts: ArrayLike<number>, options: AllGathervOptions = {}): Promise<T> {
    checkBuffer('allGatherv', 'send', send);
    checkBuffer('allGatherv', 'recv', recv);
    if (dtypeOf(send) !== dtypeOf(recv)) throw invalidArgument('allGatherv', 'recv', `a ${send.constructor.name} like 'send'`, recv);
    const list = this.#counts('allGatherv', counts);
    await this.#run('allGatherv', send.byteLength + recv.byteLength, options, () =>
      this.#native.allGatherv(send, recv, list, this.#timeout('allGatherv', options)),
    );
    return recv;
  }

  /**
   * Sums sparse rows across ranks: every rank passes (key, row) pairs (keys may repeat and
   * be unsorted; rows of `dim` float32 values) and gets every key of the job once, sorted,
   * with the rows summed, bit-identical on every rank. Keys are partitioned by hash range
   * (sparseOwner): each owner merges its keys, then the owners' results are gathered; no
   * rank's pairs are padded (native/collectives/sparse_all_reduce.cc).
   * @example const { keys, values } = await comm.sparseAllReduce(ids, grads, { dim: 4 });
   */
  async sparseAllReduce(keys: BigUint64Array, values: Float32Array, options: SparseOptions = {}): Promise<SparseResult> {
    return this.#sparse('sparseAllReduce', keys, values, options);
  }

  /**
   * Like sparseAllReduce, but each rank gets only the keys it owns (sparseOwner(key, size) ===
   * rank), sorted, with rows summed over all ranks; skips the final gather.
   */
  async sparseReduceScatter(keys: BigUint64Array, values: Float32Array, options: SparseOptions = {}): Promise<SparseResult> {
    return this.#sparse('sparseReduceScatter', keys, values, options);
  }

  /** Resolves once every rank has entered the barrier. */
  async barrier(options: BarrierOptions = {}): Promise<void> {
    await this.#submit('barrier', null, null, 0, -1, options);
  }

  /**
   * Splits the group (collective: every rank calls it). Ranks passing the same `color`
   * form a new communicator, ordered by `key` (default: current rank). A negative color
   * leaves this rank out (resolves to null), like MPI_UNDEFINED.
   */
  async split(color: number, key: number = this.rank): Promise<Communicator | null> {
    if (!Number.isInteger(color) || color > 0x7fffffff) throw invalidArgument('split', 'color', 'an integer', color);
    if (!Number.isInteger(key) || Math.abs(key) > 0x7fffffff) throw invalidArgument('split', 'key', 'a 32-bit integer', key);
    const mine = new Int32Array([color, key, this.rank]);
    const all = new Int32Array(3 * this.size);
    await this.allGather(mine, all);
    const index = this.#splits++;
    if (color < 0) return null;
    const members: Array<{ key: number; rank: number }> = [];
    for (let r = 0; r < this.size; r++) {
      if (all[3 * r] === color) members.push({ key: all[3 * r + 1]!, rank: all[3 * r + 2]! });
    }
    members.sort((a, b) => a.key - b.key || a.rank - b.rank);
    const newRank = members.findIndex((m) => m.rank === this.rank);
    const group = `${this.#group}/split${index}/color${color}`;
    const worldRanks = members.map((m) => this.worldRanks[m.rank]!);
    const child = await connectCommunicator(group, newRank, members.length, worldRanks, this.#runtime);
    this.#children.add(child);
    child.#onClose.push(() => void this.#children.delete(child));
    return child;
  }

  /**
   * Reports numbers about training progress (e.g. `{ iteration: 3, loss: 0.41 }`) to the
   * job's dashboard and /metrics. Cheap: buffered and sent with the next heartbeat.
   */
  report(values: Record<string, number>): void {
    if (values === null || typeof values !== 'object') throw invalidArgument('report', 'values', 'an object of numbers', values);
    const clean: Record<string, number> = {};
    for (const [k, v] of Object.entries(values)) {
      if (typeof v !== 'number' || !Number.isFinite(v)) throw invalidArgument('report', `values.${k}`, 'a finite number', v);
      clean[k] = v;
    }
    telemetry.report(clean);
  }

  /** Breaks this communicator (and its splits): pending and later ops reject with `reason`. */
  abort(reason = 'aborted by the application'): void {
    this.#native.abort(NATIVE_ERROR_CODE.ERR_ABORTED, `rank ${this.rank}: ${reason}`, -1);
    for (const c of this.#children) c.abort(reason);
  }

  /**
   * Rebuilds the world communicator after a worker was lost in a job started with
   * `shoal run --max-restarts K`: waits until the launcher's replacement has joined, then
   * connects every rank again in the job's next epoch (group 'world#<epoch>'). Splits of
   * this communicator are closed (split again afterwards); sequence numbers restart at 0.
   * Most code uses `resilient()` (lib/recovery/resilient.ts), which calls this.
   * @throws {RendezvousError} when no replacement joins within `timeoutMs` (default: the init timeout).
   */
  async recover(options: { timeoutMs?: number } = {}): Promise<void> {
    const epoch = epochOfWorldGroup(this.#group);
    if (epoch === null) {
      throw new ShoalError('ERR_INVALID_USAGE', `recover: only the world communicator can be rebuilt, not "${this.#group}"; split again after world.recover()`, { rank: this.rank });
    }
    const client = this.#runtime.client;
    if (!client || this.size === 1) throw new ShoalError('ERR_INVALID_USAGE', 'recover: this job has no other ranks to recover with', { rank: this.rank });
    if (this.#closed) throw new ShoalError('ERR_INVALID_USAGE', 'recover: communicator is closed', { rank: this.rank });
    const timeoutMs = options.timeoutMs ?? this.#runtime.timeoutMs;
    for (const c of [...this.#children]) {
      c.abort('the world communicator is being rebuilt');
      await c.close().catch(() => undefined);
    }
    this.#native.abort(NATIVE_ERROR_CODE.ERR_ABORTED, `rank ${this.rank}: rebuilding the world communicator`, -1);
    await this.#native.close().catch(() => undefined);
    const next = await client.waitEpoch(epoch, timeoutMs);
    const joined = await joinWorld(this.rank, this.size, this.#runtime, next);
    this.#native = joined.native;
    this.#group = worldGroupName(joined.epoch);
    this.#seq = 0;
    this.#splits = 0;
  }

  /** @internal The coordinator reported a lost world rank. */
  peerLost(worldRank: number, reason: string): void {
    const r = this.worldRanks.indexOf(worldRank);
    if (r >= 0 && r !== this.rank) {
      this.#native.abort(NATIVE_ERROR_CODE.ERR_PEER_LOST, `rank ${r} lost (reported by the coordinator: ${reason})`, r);
    }
    for (const c of this.#children) c.peerLost(worldRank, reason);
  }

  /** @internal Runs when close() finishes (the world communicator closes its coordinator link). */
  onClose(fn: () => Promise<void> | void): void {
    this.#onClose.push(fn);
  }

  /** Finishes queued ops, says goodbye to the peers and releases the sockets. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const c of [...this.#children]) await c.close();
    await this.#native.close();
    for (const fn of this.#onClose) await fn();
  }

  #reduceOp(op: string, name: ReduceOp | undefined): number {
    const key = name ?? 'sum';
    if (!Object.prototype.hasOwnProperty.call(REDUCE_OP, key)) {
      throw invalidArgument(op, 'options.op', "'sum' | 'prod' | 'max' | 'min'", key);
    }
    return REDUCE_OP[key];
  }

  async #sparse(op: 'sparseAllReduce' | 'sparseReduceScatter', keys: BigUint64Array, values: Float32Array, options: SparseOptions): Promise<SparseResult> {
    if (!(keys instanceof BigUint64Array)) throw invalidArgument(op, 'keys', 'a BigUint64Array', keys);
    if (!(values instanceof Float32Array)) throw invalidArgument(op, 'values', 'a Float32Array', values);
    if (options === null || typeof options !== 'object') throw invalidArgument(op, 'options', 'an object', options);
    const dim = options.dim ?? 1;
    if (typeof dim !== 'number' || !Number.isInteger(dim) || dim < 1 || dim > 1 << 24) {
      throw invalidArgument(op, 'options.dim', 'an integer in [1, 2^24]', dim, true);
    }
    if (values.length !== keys.length * dim) {
      throw invalidArgument(op, 'values', `length keys.length * dim = ${keys.length * dim}`, values, true);
    }
    let result: SparseResult | undefined;
    await this.#run(op, keys.byteLength + values.byteLength, options, () =>
      this.#native.sparseAllReduce(keys, values, dim, op === 'sparseReduceScatter', this.#timeout(op, options)).then((r) => {
        result = r;
      }),
    );
    return result!;
  }

  #counts(op: string, counts: unknown): number[] {
    const list = counts !== null && typeof counts === 'object' && 'length' in counts ? Array.from(counts as ArrayLike<unknown>) : null;
    if (!list || list.length !== this.size) {
      throw invalidArgument(op, 'counts', `one count per rank (${this.size} non-negative integers)`, counts, Array.isArray(counts));
    }
    list.forEach((c, i) => {
      if (typeof c !== 'number' || !Number.isSafeInteger(c) || c < 0) throw invalidArgument(op, `counts[${i}]`, 'a non-negative integer', c, true);
    });
    return list as number[];
  }

  #timeout(op: string, options: CollectiveOptions): number {
    const timeoutMs = options.timeoutMs ?? this.#runtime.opTimeoutMs;
    if (typeof timeoutMs !== 'number' || !(timeoutMs >= 0)) {
      throw invalidArgument(op, 'options.timeoutMs', 'a number >= 0', timeoutMs, true);
    }
    return timeoutMs;
  }

  #checkRoot(op: string, root: unknown): void {
    if (typeof root !== 'number' || !Number.isInteger(root) || root < 0 || root >= this.size) {
      throw invalidArgument(op, 'root', `an integer rank in [0, ${this.size})`, root, typeof root === 'number');
    }
  }

  // Not async, nor is #run: a small op that finished during the call returns undefined and
  // costs the caller one Promise (its own), not three.
  #submit(
    op: OpName,
    buf: CollectiveBuffer | null,
    recv: CollectiveBuffer | null,
    reduceOp: number,
    root: number,
    options: CollectiveOptions,
  ): Promise<void> | undefined {
    if (options === null || typeof options !== 'object') throw invalidArgument(op, 'options', 'an object', options);
    const timeoutMs = this.#timeout(op, options);
    const bytes = (buf?.byteLength ?? 0) + (recv?.byteLength ?? 0);
    return this.#run(op, bytes, options, () => this.#native.collective(OP_KIND[op], buf, recv, reduceOp, root, timeoutMs));
  }

  /** Runs one op: closed check, fault injection, telemetry, error mapping with the caller's stack. */
  #run(op: OpName, bytes: number, options: CollectiveOptions, call: () => Promise<void> | undefined): Promise<void> | undefined {
    if (options === null || typeof options !== 'object') throw invalidArgument(op, 'options', 'an object', options);
    this.#timeout(op, options);
    if (this.#closed) throw new ShoalError('ERR_INVALID_USAGE', `${op}: communicator is closed`, { rank: this.rank, op });
    const nth = this.#calls++;
    // Behind an op that waits for a timer turn, every later op waits too: ops must reach the
    // engine in call order (each rank matches them by sequence number).
    if (this.#afterTimers.length > 0 || Date.now() - lastTimerTurn > TIMER_STARVATION_MS) return this.#runAfterTimers(op, bytes, call, nth);
    return this.#start(op, bytes, call, nth);
  }

  /**
   * Lets timers run first (a loop of ops that finish in the call never yields to them), then
   * starts this op and any called meanwhile, in call order. (Each op awaiting its own timer
   * let a later op called from another callback, once the timers had run, start first.)
   */
  #runAfterTimers(op: OpName, bytes: number, call: () => Promise<void> | undefined, nth: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const start = (): void => {
        try {
          const pending = this.#start(op, bytes, call, nth);
          if (pending) pending.then(resolve, reject);
          else resolve();
        } catch (err) {
          reject(err);
        }
      };
      if (this.#afterTimers.push(start) > 1) return;
      setTimeout(() => {
        lastTimerTurn = Date.now();
        for (const next of this.#afterTimers.splice(0)) next();
      }, 0);
    });
  }

  #start(op: OpName, bytes: number, call: () => Promise<void> | undefined, nth: number): Promise<void> | undefined {
    // Cannot fail unless the ordering above is broken; then the ranks would match the wrong ops.
    const started = this.#started++;
    if (nth !== started) {
      throw new ShoalError('ERR_INTERNAL', `${op}: called as this communicator's op ${nth} but started as op ${started} (out of call order)`, { rank: this.rank, op });
    }
    const seq = this.#seq;
    if (epochOfWorldGroup(this.#group) !== null) {
      // Fault injection (SHOAL_INJECT, docs/fault_injection.md): may kill, exit or delay this rank here.
      const drop = faultBeforeSubmit(this.rank, this.size, op, seq);
      if (drop && !this.#native.broken) {
        // As if this rank's connection to `peer` dropped: break the communicator (and its splits);
        // the comm thread tells every peer, so all ranks reject with a PeerLostError naming `peer`.
        this.#native.abort(NATIVE_ERROR_CODE.ERR_PEER_LOST, `rank ${this.rank}: ${drop.reason}`, drop.peer, true);
        for (const c of this.#children) c.abort(drop.reason);
      }
    }
    const start = preciseNow();
    let pending: Promise<void> | undefined;
    try {
      pending = call();
    } catch (err) {
      throw toShoalError(err, { rank: this.rank, op });
    }
    this.#seq++;
    const settled = telemetry.collective(op, this.#group, seq, bytes, start);
    if (pending === undefined) {
      settled(true); // a small op that this thread ran to the end (native/runtime/engine.cc runHere)
      return undefined;
    }
    // Capture the caller's stack now (formatted only if needed): the rejection arrives from
    // the comm thread without one. Only here: the capture costs ~10 us, more than a small op.
    const site: { stack?: string } = {};
    Error.captureStackTrace(site, Communicator.prototype[op]);
    return this.#settle(op, seq, pending, settled, site);
  }

  async #settle(op: OpName, seq: number, pending: Promise<void>, settled: (ok: boolean) => void, site: { stack?: string }): Promise<void> {
    try {
      await pending;
      settled(true);
    } catch (err) {
      settled(false);
      const e = toShoalError(err, { rank: this.rank, op, seq });
      // The coordinator's stall inspector may know why (which ranks never arrived).
      if (e instanceof ShoalError && e.code === 'ERR_TIMEOUT' && this.#runtime.stallDiagnosis?.()) {
        e.message += `\n${this.#runtime.stallDiagnosis()}`;
      }
      if (site.stack) e.stack = `${e.name}: ${e.message}\n${site.stack.split('\n').slice(1).join('\n')}`;
      throw e;
    }
  }
}

/** Creates a communicator's engine, rendezvous through the coordinator and connects the mesh. */
export async function connectCommunicator(
  group: string,
  rank: number,
  size: number,
  worldRanks: number[],
  runtime: CommunicatorRuntime,
): Promise<Communicator> {
  return new Communicator(await connectNative(group, rank, size, runtime), rank, size, group, worldRanks, runtime);
}

/**
 * Connects the world communicator in `epoch` or, when a worker is lost during the rendezvous
 * and the job can replace workers, in the next epoch that completes.
 */
export async function joinWorld(rank: number, size: number, runtime: CommunicatorRuntime, epoch: number): Promise<{ native: NativeComm; epoch: number }> {
  for (;;) {
    try {
      return { native: await connectNative(worldGroupName(epoch), rank, size, runtime), epoch };
    } catch (err) {
      const again = runtime.client && recoveryEnabled() && err instanceof ShoalError && (err.code === 'ERR_PEER_LOST' || err.code === 'ERR_IO');
      if (!again) throw err;
      epoch = await runtime.client!.waitEpoch(epoch, runtime.timeoutMs);
    }
  }
}

async function connectNative(group: string, rank: number, size: number, runtime: CommunicatorRuntime): Promise<NativeComm> {
  const nativeComm = new native.NativeComm({
    rank,
    size,
    commId: commIdOf(group),
    token: runtime.token,
    bindHost: runtime.bindHost,
    ...runtime.tuning,
  });
  if (size === 1) return nativeComm;
  if (!runtime.client) {
    throw new ShoalError('ERR_CONFIG', `cannot form group "${group}" of ${size} ranks without a coordinator (set SHOAL_COORDINATOR)`);
  }
  try {
    const peers = await runtime.client.register(group, size, rank, { host: runtime.advertiseHost, port: nativeComm.port }, runtime.timeoutMs);
    await nativeComm.connect(
      peers.map((p) => ({ host: p.host, port: p.port })),
      runtime.timeoutMs,
    );
  } catch (err) {
    await nativeComm.close().catch(() => undefined);
    throw err instanceof ShoalError ? err : toShoalError(err, { rank, op: 'connect' });
  }
  return nativeComm;
}

