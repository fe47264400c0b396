// TrainingState: the part of a training loop that must survive a failure, committed at the end
// of every iteration. Three uses:
//  - rollback: after a lost worker, every survivor returns to its last commit (restore());
//  - catch-up: the replacement (and any survivor a commit behind) receives the most advanced
//    rank's committed state (sync(), collective), so all ranks continue from the same point;
//  - checkpoints: with `dir`, rank 0 writes each commit (or every `every`-th) to
//    <dir>/checkpoint.bin, and `resume` starts a new job from such a file (`shoal train --resume`).
// State is replicated (data-parallel trainers hold the same model on every rank), so one rank's
// copy is enough; per-rank progress belongs in the parameter server (stateless workers).
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';

import type { Collective } from '../collective.js';
import { ConfigError } from '../errors.js';
import { fileMac, jobSecret, macProblem } from '../file_mac.js';
import { decodeState, encodeState } from './state_codec.js';
import { recoveryEnabled } from './recovery_env.js';

export const CHECKPOINT_FILE = 'checkpoint.bin';
const MAGIC = 0x4b434853; // "SHCK"
const VERSION = 2;
/**
 * magic, version, commits (u64), meta bytes (u32), payload bytes (u64), flags (u32: 1 = signed),
 * then the MAC (lib/file_mac.ts) of those 32 bytes, the meta and the payload.
 */
const MAC_OFFSET = 32;
const HEADER_BYTES = MAC_OFFSET + 32;
const MAC_PURPOSE = 'shoal-checkpoint-v2';

/** Scalars that identify a job; a checkpoint is only resumed by a job with the same ones. */
export type CheckpointMeta = Record<string, string | number | boolean | null>;

export interface TrainingStateOptions {
  /** Directory rank 0 writes checkpoints to (created if missing); default: no files. */
  dir?: string | null;
  /** Write every this many commits (default 1). */
  every?: number;
  /** Directory to resume from: rank 0 reads its checkpoint, sync() hands it to everyone. */
  resume?: string | null;
  /** Describes the job (algorithm, parameters, data); resuming a checkpoint with other values fails. */
  meta?: CheckpointMeta;
  /** Keep in-memory commits even when the job cannot replace workers (tests). */
  alwaysKeep?: boolean;
}

/**
 * @example
 *   const state = new TrainingState(comm, { iteration: 0, w: new Float64Array(dim) });
 *   await resilient(comm, state, async (s) => {
 *     for (; s.iteration < 100; s.iteration++) { await step(s.w); state.commit(); }
 *   });
 */
export class TrainingState<T extends object> {
  /** The live state: mutate it freely between commits. */
  value: T;
  /** Commits so far (restored from a checkpoint on resume). */
  commits = 0;
  readonly #comm: Collective;
  readonly #dir: string | null;
  readonly #every: number;
  readonly #meta: CheckpointMeta;
  readonly #keep: boolean;
  #committed: Uint8Array | null = null;
  /** Rank 0 could not resume: every rank fails in sync(), so no rank waits on it in a collective. */
  #resumeError: Error | null = null;

  constructor(comm: Collective, initial: T, options: TrainingStateOptions = {}) {
    this.#comm = comm;
    this.value = initial;
    this.#dir = options.dir ?? null;
    this.#every = options.every ?? 1;
    if (!Number.isInteger(this.#every) || this.#every < 1) throw new ConfigError('ERR_CONFIG', `checkpoint every must be a positive integer, got ${String(options.every)}`);
    this.#meta = options.meta ?? {};
    this.#keep = options.alwaysKeep === true || recoveryEnabled();
    if (this.#keep) this.#committed = encodeState(initial);
    if (options.resume && comm.rank === 0) {
      try {
        const file = readCheckpoint(join(options.resume, CHECKPOINT_FILE), this.#meta);
        this.commits = file.commits;
        this.#committed = file.payload;
        this.value = decodeState<T>(file.payload, file.path);
      } catch (err) {
        this.#resumeError = err as Error;
      }
    }
  }

  /** Whether the next commit() writes the checkpoint file (a trainer with state elsewhere saves that first). */
  get nextCommitWrites(): boolean {
    return this.#dir !== null && this.#comm.rank === 0 && (this.commits + 1) % this.#every === 0;
  }

  /** The iteration is complete: remember the state (and write a checkpoint when due). */
  commit(): void {
    const writeFile = this.nextCommitWrites;
    this.commits++;
    if (!this.#keep && !writeFile) return;
    const bytes = encodeState(this.value);
    if (this.#keep) this.#committed = bytes;
    if (writeFile) writeCheckpoint(this.#dir!, this.commits, this.#meta, bytes);
  }

  /** Back to the last commit (after a failure interrupted an iteration). */
  restore(): void {
    if (!this.#committed) throw new ConfigError('ERR_CONFIG', 'TrainingState.restore: nothing was kept (the job was not started with --max-restarts)');
    this.value = decodeState<T>(this.#committed);
  }

  /**
   * Collective: every rank adopts the committed state of the rank with the most commits
   * (the lowest such rank). A no-op when nobody has committed or resumed anything.
   */
  async sync(): Promise<void> {
    const comm = this.#comm;
    if (this.#resumeError && comm.size === 1) throw this.#resumeError;
    if (comm.size === 1) return;
    const counts = new Float64Array(comm.size);
    // -1: this rank could not read the checkpoint it was asked to resume from.
    try {
      await comm.allGather(new Float64Array([this.#resumeError ? -1 : this.commits]), counts);
    } catch (err) {
      // The others may have their answer and exit before this rank's allGather completes: a
      // rank that could not read its checkpoint reports that, not the peers it saw go.
      if (this.#resumeError) throw this.#resumeError;
      throw err;
    }
    if (this.#resumeError) throw this.#resumeError;
    const failed = counts.indexOf(-1);
    if (failed >= 0) throw new ConfigError('ERR_CONFIG', `--resume failed on rank ${failed} (its message says why)`);
    let source = 0;
    for (let r = 1; r < comm.size; r++) if (counts[r]! > counts[source]!) source = r;
    const best = counts[source]!;
    if (best === 0 || counts.every((c) => c === best)) return;
    const mine = comm.rank === source ? (this.#committed ?? encodeState(this.value)) : null;
    const length = new Float64Array([mine?.length ?? 0]);
    await comm.bcast(length, source);
    const bytes = mine ?? new Uint8Array(length[0]!);
    await comm.bcast(bytes, source);
    if (comm.rank !== source) {
      this.value = decodeState<T>(bytes, `training state from rank ${source}`);
      if (this.#keep) this.#committed = bytes;
      this.commits = best;
    }
  }
}

/** Atomic: a crash leaves the previous checkpoint or the new one, never a torn file. */
function writeCheckpoint(dir: string, commits: number, meta: CheckpointMeta, payload: Uint8Array): void {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, CHECKPOINT_FILE);
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w');
  try {
    for (const part of encodeCheckpoint(commits, Buffer.from(JSON.stringify(meta)), payload)) writeSync(fd, part);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

/** A checkpoint file's parts (header, meta JSON, payload), MACed with the job secret of `env`. */
export function encodeCheckpoint(commits: number, metaBytes: Uint8Array, payload: Uint8Array, env: NodeJS.ProcessEnv = process.env): Uint8Array[] {
  const secret = jobSecret(env);
  const header = Buffer.alloc(HEADER_BYTES);
  header.writeUInt32LE(MAGIC, 0);
  header.writeUInt32LE(VERSION, 4);
  header.writeBigUInt64LE(BigInt(commits), 8);
  header.writeUInt32LE(metaBytes.length, 16);
  header.writeBigUInt64LE(BigInt(payload.length), 20);
  header.writeUInt32LE(secret === null ? 0 : 1, 28);
  fileMac(secret, MAC_PURPOSE, [header.subarray(0, MAC_OFFSET), metaBytes, payload]).copy(header, MAC_OFFSET);
  return [header, metaBytes, payload];
}

/** Reads and verifies a checkpoint; errors name the file and what is wrong with it. */
export function readCheckpoint(path: string, expectMeta: CheckpointMeta = {}): { path: string; commits: number; meta: CheckpointMeta; payload: Uint8Array } {
  let data: Buffer;
  try {
    data = readFileSync(path);
  } catch (err) {
    throw new ConfigError('ERR_CONFIG', `--resume: cannot read ${path}: ${(err as Error).message}`);
  }
  return decodeCheckpoint(data, path, expectMeta);
}

/**
 * The inverse of encodeCheckpoint for the bytes of file `path`: the MAC is checked before
 * anything else is read, every length against the bytes that are there.
 */
export function decodeCheckpoint(
  data: Uint8Array,
  path: string,
  expectMeta: CheckpointMeta = {},
  env: NodeJS.ProcessEnv = process.env,
): { path: string; commits: number; meta: CheckpointMeta; payload: Uint8Array } {
  const bad = (why: string): never => {
    throw new ConfigError('ERR_CONFIG', `--resume: ${path} is not a usable Shoal checkpoint: ${why}`);
  };
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (buf.length < 8 || buf.readUInt32LE(0) !== MAGIC) bad('bad magic (not a checkpoint)');
  const version = buf.readUInt32LE(4);
  if (version !== VERSION) bad(`version ${version}, this build reads ${VERSION}${version === 1 ? ' (an unsigned checkpoint of an older Shoal)' : ''}`);
  if (buf.length < HEADER_BYTES) bad(`truncated: ${buf.length} bytes, less than the ${HEADER_BYTES}-byte header`);
  const metaLength = buf.readUInt32LE(16);
  const payloadLength = buf.readBigUInt64LE(20);
  const flags = buf.readUInt32LE(28);
  const expected = BigInt(HEADER_BYTES + metaLength) + payloadLength;
  if (expected !== BigInt(buf.length)) bad(`${expected < BigInt(buf.length) ? 'padded' : 'truncated'}: ${buf.length} bytes, the header says ${expected}`);
  if (flags > 1) bad(`unknown flags ${flags}`);
  const metaBytes = buf.subarray(HEADER_BYTES, HEADER_BYTES + metaLength);
  const payload = buf.subarray(HEADER_BYTES + metaLength);
  const problem = macProblem(jobSecret(env), flags === 1, buf.subarray(MAC_OFFSET, HEADER_BYTES), MAC_PURPOSE, [buf.subarray(0, MAC_OFFSET), metaBytes, payload]);
  if (problem) throw new ConfigError('ERR_CONFIG', `--resume: ${path} ${problem}`);
  const commits = buf.readBigUInt64LE(8);
  if (commits > BigInt(Number.MAX_SAFE_INTEGER)) bad(`commit count ${commits} is out of range`);
  let meta: unknown;
  try {
    meta = JSON.parse(metaBytes.toString('utf8'));
  } catch {
    bad('its job description is not JSON');
  }
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta)) bad('its job description is not an object');
  for (const [key, want] of Object.entries(expectMeta)) {
    const had = Object.prototype.hasOwnProperty.call(meta, key) ? (meta as CheckpointMeta)[key] : undefined;
    if (had !== want) {
      throw new ConfigError('ERR_CONFIG', `--resume: ${path} was written by a different job: ${key} was ${JSON.stringify(had)}, this job has ${JSON.stringify(want)}`);
    }
  }
  return { path, commits: Number(commits), meta: meta as CheckpointMeta, payload: new Uint8Array(payload) };
}
