// The workers' parameter-server API: comm.ps.table(...) returns a PsTable whose pull and
// push run on the native client's I/O thread (dedup, partition by server, reassemble).
import { rm } from 'node:fs/promises';

import { invalidArgument, describe } from '../errors.js';
import { faultBeforePsCall, isPsInjectOp, type PsInjectOp } from '../fault_injection.js';
import { native, toShoalError, type NativePsClient } from '../native.js';
import { telemetry } from '../telemetry.js';
import { pushFloatsPerKey, toTableSpec, validateTableName, type TableOptions, type TableSpec } from './table_options.js';
import { currentSnapshotDir, newGeneration, publishGeneration } from './snapshot_dir.js';
import { readManifestListing, writeManifest, type ShardEntry } from './snapshot_manifest.js';

export interface PsOptions {
  /** Per-request timeout (ms); 0 = none. */
  timeoutMs: number;
}

/** FNV-1a of the table name: the id every worker and server derives alike. */
export function tableIdOf(name: string): number {
  let h = 0x811c9dc5;
  const bytes = Buffer.from(name, 'utf8');
  for (const b of bytes) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** One named table of `dim` float32 values per uint64 key, sharded over the servers. */
export class PsTable {
  readonly name: string;
  readonly dim: number;
  /** Floats per key in a push (dim, or 2*dim for FTRL's deltas of z and n). */
  readonly pushFloats: number;
  /** Float64 slots per key of a vector table; 0 otherwise. */
  readonly slots: number;
  readonly #id: number;
  readonly #client: PsClient;

  /** @internal */
  constructor(client: PsClient, name: string, spec: TableSpec) {
    this.#client = client;
    this.name = name;
    this.dim = spec.dim;
    this.pushFloats = pushFloatsPerKey(spec);
    this.slots = spec.slots ?? 0;
    this.#id = tableIdOf(name);
  }

  /**
   * Runs a vector program (lib/ps/vector_program.ts) on every server's rows of this vector
   * table. Returns each reduction's total: the servers' partial sums added in server order
   * (NaN where a sum was not finite).
   */
  async run(program: Uint8Array): Promise<number[]> {
    if (this.slots === 0) throw invalidArgument(`${this.name}.run`, 'table', "a vector table (updater 'vector')", this.name);
    if (!(program instanceof Uint8Array)) throw invalidArgument(`${this.name}.run`, 'program', 'a Uint8Array (VectorProgram.bytes())', program);
    const text = await this.#client.call('vector', (n) => n.vector(this.#id, program, this.#client.timeoutMs));
    const perServer = JSON.parse(text) as Array<Array<number | null>>;
    const totals: number[] = [];
    for (const sums of perServer) sums.forEach((v, i) => (totals[i] = (totals[i] ?? 0) + (v ?? Number.NaN)));
    return totals;
  }

  /**
   * Rows for `keys` (any order, duplicates allowed), `keys.length * dim` floats in the
   * caller's key order. Under BSP/SSP it waits until the slowest worker's clock allows.
   */
  async pull(keys: BigUint64Array, out?: Float32Array): Promise<Float32Array> {
    if (!(keys instanceof BigUint64Array)) throw invalidArgument(`${this.name}.pull`, 'keys', 'a BigUint64Array', keys);
    const result = out ?? new Float32Array(keys.length * this.dim);
    if (!(result instanceof Float32Array) || result.length !== keys.length * this.dim) {
      throw invalidArgument(`${this.name}.pull`, 'out', `a Float32Array of keys.length * dim = ${keys.length * this.dim}`, out, true);
    }
    await this.#client.call('pull', (n) => n.pull(this.#id, keys, result, this.#client.timeoutMs), keys.length);
    return result;
  }

  /** Sends one update per key; values of repeated keys are summed before sending. */
  async push(keys: BigUint64Array, values: Float32Array): Promise<void> {
    if (!(keys instanceof BigUint64Array)) throw invalidArgument(`${this.name}.push`, 'keys', 'a BigUint64Array', keys);
    if (!(values instanceof Float32Array)) throw invalidArgument(`${this.name}.push`, 'values', 'a Float32Array', values);
    if (values.length !== keys.length * this.pushFloats) {
      throw invalidArgument(
        `${this.name}.push`,
        'values',
        `keys.length * ${this.pushFloats} = ${keys.length * this.pushFloats} floats${this.pushFloats !== this.dim ? ' (FTRL pushes deltas of z and n)' : ''}`,
        `${describe(values)}`,
        true,
      );
    }
    await this.#client.call('push', (n) => n.push(this.#id, keys, values, this.#client.timeoutMs), keys.length);
  }
}


/** Attempts of a save cut short by server losses (about 30 s of waiting in all). */
const SAVE_RETRIES = 40;

/**
 * A server was lost while the save was in flight, or a live server has not yet seen a loss the
 * client knows of (native/psnet client.cc, server.cc requireLossesSeen): with a replica left
 * for every key, the next attempt writes every row. A loss that left keys without a copy has
 * another message and is not retried.
 */
function lossDuringSave(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown };
  return e.code === 'ERR_PEER_LOST' && typeof e.message === 'string' && /during ps\.save|lost server\(s\), the worker of/.test(e.message);
}
/** A worker's connection to every parameter server of the job. */
export class PsClient {
  readonly #native: NativePsClient;
  readonly #rank: number;
  readonly #tables = new Map<string, PsTable>();
  readonly timeoutMs: number;
  /** Calls so far of each kind fault-injection rules can name. */
  readonly #injectSeq: Record<PsInjectOp, number> = { push: 0, pull: 0, clock: 0 };
  /** The job token: snapshot manifests are MACed with it (snapshot_manifest.ts). */
  readonly #secret: string | null;
  #closed = false;
  /** Saves written again because a server loss cut them short (saveGeneration). */
  saveRetries = 0;
  /** Server indices known to this client (elastic servers: grows as servers are added). */
  #numServers: number;

  /** @internal */
  constructor(nativeClient: NativePsClient, rank: number, options: PsOptions, numServers = 0, secret: string | null = null) {
    this.#native = nativeClient;
    this.#secret = secret;
    this.#rank = rank;
    this.timeoutMs = options.timeoutMs;
    this.#numServers = numServers;
  }

  /** @internal */
  static async connect(
    servers: Array<{ rank?: number; host: string; port: number }>,
    config: { workerRank: number; numWorkers: number; token: string; replication: number; maxMessageBytes?: number; ackOnPrimary?: boolean; storeOrderMinKeys?: number },
    options: PsOptions,
  ): Promise<PsClient> {
    // Server indices keep their numbers when servers leave (elastic remove): a gap is null.
    const dense = byServerIndex(servers);
    const n = new native.NativePsClient({ ...config, numServers: dense.length });
    try {
      await n.connect(dense, options.timeoutMs);
    } catch (err) {
      await n.close().catch(() => undefined);
      throw toShoalError(err, { rank: config.workerRank, op: 'ps.connect' });
    }
    return new PsClient(n, config.workerRank, options, dense.length, config.token || null);
  }

  /**
   * Creates the table on every server, or joins it if another worker created it with the
   * same options (different options are an error naming both).
   */
  async table(name: string, options: TableOptions = {}): Promise<PsTable> {
    validateTableName(name);
    const spec = toTableSpec(name, options);
    await this.call('table', (n) => n.createTable(name, spec, this.timeoutMs));
    const t = new PsTable(this, name, spec);
    this.#tables.set(name, t);
    return t;
  }

  /** This worker finished an iteration: advances its clock on every server (BSP/SSP). */
  async clock(): Promise<void> {
    await this.call('clock', (n) => n.clock(this.timeoutMs));
  }

  /**
   * Writes a consistent snapshot of every table: one file per table per server and a
   * manifest with each file's SHA-256, MACed with the job secret. Call it from one worker.
   */
  async save(dir: string): Promise<void> {
    // A new generation, published only once complete (snapshot_dir.ts): a crash mid-save keeps the last snapshot.
    await publishGeneration(dir, await this.saveGeneration(dir));
  }

  /**
   * save() without publishing: writes a new generation under `dir` (shard files and manifest)
   * and returns its path; CURRENT is left alone. For a caller that records the generation in
   * its own file (the sharded trainer's checkpoint) and loads it by path (load(gen)).
   */
  async saveGeneration(dir: string): Promise<string> {
    for (let attempt = 1; ; attempt++) {
      const abs = await newGeneration(dir);
      try {
        const text = await this.call('save', (n) => n.save(abs, this.timeoutMs));
        await writeManifest(abs, (JSON.parse(text) as ShardEntry[][]).flat(), this.#secret);
        return abs;
      } catch (err) {
        // The cut-short generation is no snapshot: never leave it where a reader could take it.
        await rm(abs, { recursive: true, force: true });
        if (!lossDuringSave(err) || attempt >= SAVE_RETRIES) throw err;
        this.saveRetries++;
        if (attempt === 1) process.stderr.write(`[shoal] ps.save: ${(err as Error).message.split('\n')[0]}; saving again once every live server has seen the loss\n`);
        await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 10 * 2 ** attempt)));
      }
    }
  }

  /**
   * Restores every table from a snapshot written by save() (any number of servers). Only the
   * files its manifest lists are read, and only if they match it; the manifest must verify
   * with this job's secret (a snapshot of another job is refused, saying so).
   */
  async load(dir: string): Promise<void> {
    const listing = readManifestListing(currentSnapshotDir(dir), 'ps.load', this.#secret);
    await this.call('load', (n) => n.load(listing, this.timeoutMs));
  }

  /** Per-server keys, memory and request counters. */
  async stats(): Promise<unknown[]> {
    return JSON.parse(await this.call('stats', (n) => n.stats(this.timeoutMs))) as unknown[];
  }

  /** @internal The coordinator says a server died. */
  serverLost(rank: number, reason: string): void {
    this.#native.serverLost(rank, reason);
  }

  /**
   * @internal A replacement of server `rank` restored its data: its keys go to it again.
   * @throws {RangeError} if `rank` is not a server index of this job.
   */
  serverJoined(rank: number, host: string, port: number): void {
    if (this.#closed) return;
    if (Number.isInteger(rank) && rank >= this.#numServers) {
      // An added server (elastic add): it copied the ranges it takes over; it goes on the ring.
      this.#native.serverAdded(rank, host, port);
      this.#numServers = rank + 1;
      return;
    }
    this.#native.serverJoined(rank, host, port);
  }

  /**
   * @internal Server `rank` drained and left the job: its keys are on the other servers.
   * @throws {RangeError} if `rank` is not a server index of this job.
   */
  serverLeft(rank: number): void {
    if (this.#closed) return;
    this.#native.serverLeft(rank);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#native.close();
  }

  /** @internal */
  async call<T>(op: string, fn: (n: NativePsClient) => Promise<T>, keys = 0): Promise<T> {
    if (this.#closed) throw invalidArgument(`ps.${op}`, 'client', 'an open parameter-server client', 'a closed one');
    // Fault injection (op=push|pull|clock): each kind of call has its own seq on this worker.
    if (isPsInjectOp(op)) faultBeforePsCall(this.#rank, op, this.#injectSeq[op]++);
    const done = telemetry.psCall(keys);
    try {
      return await fn(this.#native);
    } catch (err) {
      throw toShoalError(err, { rank: this.#rank, op: `ps.${op}` });
    } finally {
      done();
    }
  }
}

/**
 * The coordinator's table of servers as an array by server index: a drained server's index
 * stays free (null), so indices keep naming the same servers.
 */
export function byServerIndex<T extends { rank?: number; host: string; port: number }>(servers: T[]): Array<{ host: string; port: number } | null> {
  if (servers.every((s) => s.rank === undefined)) return servers.map((s) => ({ host: s.host, port: s.port }));
  const n = Math.max(-1, ...servers.map((s) => s.rank ?? -1)) + 1;
  const out: Array<{ host: string; port: number } | null> = Array.from({ length: n }, () => null);
  for (const s of servers) out[s.rank!] = { host: s.host, port: s.port };
  return out;
}
