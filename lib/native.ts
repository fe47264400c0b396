// The only module that loads the compiled addon, and its typed interface. Everything else
// in lib/ talks to native code through `native` and turns its errors into lib/errors.ts
// classes with toShoalError().
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { errorForCode, type ErrorCode, type ShoalError, type ShoalErrorDetails } from './errors.js';
import type { CsrMatrix } from './data/csr.js';
import type { TableSpec } from './ps/table_options.js';

/** Collective kinds, as native/transport/frame.h OpKind. */
export const OP_KIND = {
  allReduce: 1,
  reduceTo: 2,
  bcast: 3,
  allGather: 4,
  barrier: 5,
  reduceScatter: 6,
  allGatherv: 7,
  sparseAllReduce: 8,
  sparseReduceScatter: 9,
} as const;
export type OpName = keyof typeof OP_KIND;

/** Reduce ops, as native/common/dtype.h ReduceOp. */
export const REDUCE_OP = { sum: 0, prod: 1, max: 2, min: 3 } as const;

/** Error codes, as native/common/error.h ErrorCode. */
export const NATIVE_ERROR_CODE: Record<ErrorCode, number> = {
  ERR_INVALID_ARGUMENT: 1,
  ERR_INVALID_USAGE: 2,
  ERR_MISMATCH: 3,
  ERR_TIMEOUT: 4,
  ERR_IO: 5,
  ERR_PEER_LOST: 6,
  ERR_ABORTED: 7,
  ERR_AUTH: 8,
  ERR_INTERNAL: 9,
  ERR_RENDEZVOUS: 7,
  ERR_CONFIG: 7,
};

export type NativeBuffer = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array;

export interface NativeCommOptions {
  rank: number;
  size: number;
  /** 32-bit id both ends of every connection must agree on (hash of the group name). */
  commId: number;
  token: string;
  bindHost?: string;
  maxFrameBytes?: number;
  /** Busy-poll sockets this long (µs) before sleeping; trades CPU for latency. */
  spinUs?: number;
  /** Busy-wait this long (µs) for the next op before sleeping. */
  queueSpinUs?: number;
  /** More ranks on the host than cores: poll with sched_yield this long (µs) before sleeping. */
  yieldUs?: number;
  /** Pin the comm thread to this CPU (-1 or absent: no pinning). */
  cpu?: number;
  /** A small op on an idle engine runs on the JS thread for up to this long (µs), then the comm thread finishes it (default 1000; 10000 with more ranks than cores). */
  syncWaitUs?: number;
  smallMessageBytes?: number;
  /** bcast and reduceTo up to this many bytes, on one host or between two ranks, take the binomial tree on the JS thread (default 4 MiB). */
  smallRootedBytes?: number;
  /** allReduce of n bytes with n * ceil(log2 size) up to this, on one host or between two ranks, takes recursive doubling on the JS thread (default 1 MiB). */
  smallAllReduceBytes?: number;
  segmentBytes?: number;
  /** Data channel to peers on this host: 'auto' (shared memory when on one host, default), 'tcp' or 'shm'. */
  transport?: 'auto' | 'tcp' | 'shm';
  /** Shared-memory ring size per direction per same-host pair (multiple of 4096). */
  shmRingBytes?: number;
  /** false: flat collectives even when ranks share hosts (default true); 'phased': hierarchical without the streamed two-host allReduce. */
  hierarchical?: boolean | 'phased';
  /** Which host this process counts as (SHOAL_HOST_ID); default: boot id + network namespace. */
  hostId?: string;
  /** false: never read same-host peers' memory directly (large allReduces take the ring); default true. */
  directReads?: boolean;
  /** Direct reads only for allReduces whose per-rank slice (bytes / size) is at least this (default 2 MiB). */
  directMinSliceBytes?: number;
  /** Tests only: direct-read allReduces fail right after this step (0-2) and then overwrite what they lent. */
  testDirectFailAfterStep?: number;
  /** Tests only: direct-read allReduces sleep this long before each phase of reads of the peers' memory. */
  testDirectReadDelayMs?: number;
}

/** One engine: a comm thread, a listening socket and the connections to every peer. */
export interface NativeComm {
  readonly port: number;
  readonly broken: boolean;
  /** 'self', 'tcp' or 'shm' for each rank once connected. */
  readonly transports: string[];
  /** Host index of each rank once connected (ranks on one host share it). */
  readonly hosts: number[];
  /** Large allReduces read the peers' buffers directly (every rank on one host agreed at connect). */
  readonly directReads: boolean;
  connect(peers: Array<{ host: string; port: number }>, timeoutMs: number): Promise<void>;
  collective(
    kind: number,
    buf: NativeBuffer | null,
    recv: NativeBuffer | null,
    reduceOp: number,
    root: number,
    timeoutMs: number,
  ): Promise<void> | undefined; // undefined: a small op that finished, successfully, during the call
  /** Ring reduce-scatter; counts[i] elements of send go to rank i (native/collectives/reduce_scatter.cc). */
  reduceScatter(send: NativeBuffer, recv: NativeBuffer, counts: number[], reduceOp: number, timeoutMs: number): Promise<void>;
  /** Ring allgather of counts[i] elements from rank i (native/collectives/all_gatherv.cc). */
  allGatherv(send: NativeBuffer, recv: NativeBuffer, counts: number[], timeoutMs: number): Promise<void>;
  /** Sums (key, row) pairs by hash-range owner; scatterOnly: only this rank's range (native/collectives/sparse_all_reduce.cc). */
  sparseAllReduce(
    keys: BigUint64Array,
    values: Float32Array,
    dim: number,
    scatterOnly: boolean,
    timeoutMs: number,
  ): Promise<{ keys: BigUint64Array; values: Float32Array }>;
  /** Breaks the communicator; with tellPeers every other rank fails with the same cause. */
  abort(code: number, message: string, peer: number, tellPeers?: boolean): void;
  close(): Promise<void>;
}

export interface NativeBinding {
  NativeComm: new (options: NativeCommOptions) => NativeComm;
  /** dst = op(a, b) with the collectives' own kernels (tests and benchmarks). */
  reduce(dst: NativeBuffer, a: NativeBuffer, b: NativeBuffer, op: number): void;
  protocolVersion: number;
  /** Logistic-regression kernels (native/linear/); algorithms/common/logistic.ts and lbfgs_lr/two_loop.ts wrap them. */
  linear: LinearKernels;
  /** FM coordinate-solver kernels (native/fm/); algorithms/fm/coordinate_solver.ts calls them. */
  fm: FmKernels;
  /** Gradient-boosting kernels; algorithms/mart/native.ts hands them to the trees. */
  gbdt: GbdtKernels;
  /** The libsvm reader (native/data/); lib/data/libsvm.ts wraps it. */
  readLibsvm(sources: NativeSource[], options: NativeReadOptions): Promise<NativeReadResult>;
  hashFeatureId(id: number | bigint, bits: number): number;
  /** The parameter-server client of a worker (native/psnet/client.cc); lib/ps/client.ts wraps it. */
  NativePsClient: new (options: NativePsClientOptions) => NativePsClient;
  /** A parameter-server process's server (native/psnet/server.cc); lib/ps/server_main.ts runs it. */
  NativePsServer: new (options: NativePsServerOptions) => NativePsServer;
}

/** new NativePsClient(...) (native/binding/ps_wrap.cc checks every field). */
export interface NativePsClientOptions {
  workerRank: number;
  numWorkers: number;
  numServers: number;
  token: string;
  replication?: number;
  maxMessageBytes?: number;
  /** Pushes acknowledged once their primary applied them (SHOAL_PS_ACK_ON_PRIMARY=1); default false: once every replica has. */
  ackOnPrimary?: boolean;
  /** Keys per server from which a request of keys a table holds goes in slot order (SHOAL_PS_STORE_ORDER_MIN_KEYS). */
  storeOrderMinKeys?: number;
}

/** NativePsClient's surface (native/binding/ps_wrap.cc). */
export interface NativePsClient {
  /** A null entry is a server index no server holds (it left the job). */
  connect(servers: Array<{ host: string; port: number } | null>, timeoutMs: number): Promise<void>;
  createTable(name: string, spec: TableSpec, timeoutMs: number): Promise<void>;
  pull(tableId: number, keys: BigUint64Array, out: Float32Array, timeoutMs: number): Promise<void>;
  push(tableId: number, keys: BigUint64Array, values: Float32Array, timeoutMs: number): Promise<void>;
  clock(timeoutMs: number): Promise<void>;
  save(dir: string, timeoutMs: number): Promise<string>;
  /** `listing`: the verified manifest's files (snapshot_manifest.ts). */
  load(listing: string, timeoutMs: number): Promise<string>;
  stats(timeoutMs: number): Promise<string>;
  /** A vector program (24-byte instructions) on a vector table: the servers' partial sums as JSON, in server order. */
  vector(tableId: number, program: Uint8Array, timeoutMs: number): Promise<string>;
  serverLost(rank: number, reason: string): void;
  serverJoined(rank: number, host: string, port: number): void;
  serverAdded(rank: number, host: string, port: number): void;
  serverLeft(rank: number): void;
  close(): Promise<void>;
}

/** new NativePsServer(...) (native/binding/ps_wrap.cc checks every field). */
export interface NativePsServerOptions {
  rank: number;
  numServers: number;
  numWorkers: number;
  token: string;
  replication?: number;
  bindHost?: string;
  maxMessageBytes?: number;
  /** A replacement that copies rank's data from the live servers. */
  restore?: boolean;
  /** An added server that copies the key ranges it takes over (implies restore). */
  join?: boolean;
  snapshotListing?: string;
  /** Fault injection: the server dies at this request (0: never). */
  killAtRequest?: number;
  /** Fault injection (kill:...:unreplicated=M): push forwards are dropped from this request on. */
  dropForwardsFrom?: number;
}

/** NativePsServer's surface (native/binding/ps_wrap.cc). */
export interface NativePsServer {
  setCustomUpdaters(ids: number[], fn: (id: number, table: string, keys: BigUint64Array, rows: Float32Array, grads: Float32Array, dim: number) => void): void;
  readonly port: number;
  start(servers: Array<{ host: string; port: number }>): void;
  serverLost(rank: number): void;
  serverJoined(rank: number): void;
  restoreStatus(): string;
  serverAdded(rank: number): void;
  serverLeft(rank: number): void;
  drain(): void;
  drainStatus(): string;
  stop(): void;
  stats(): string;
}

/** One input of readLibsvm: a file (or bytes) and this rank's share of it. */
export interface NativeSource {
  name: string;
  path?: string;
  gzip?: boolean;
  data?: Uint8Array;
  rank: number;
  size: number;
  groupSizes?: Uint32Array;
  groupsName?: string;
  qidBase?: number;
  weights?: Float32Array;
  weightsName?: string;
}

export interface NativeReadResult extends CsrMatrix {
  /** keyIds: the uint64 id of each local feature index (featureIds index into it). */
  keys?: BigUint64Array;
  skippedLines: number;
  skipped: string[];
  bytes: number;
  sources: Array<{ firstRow: number; numRows: number; reachedEnd: boolean }>;
}

export interface NativeReadOptions {
  hashBits: number;
  skipBadLines: boolean;
  maxFeatureId?: number;
  maxFeatureIdHint?: string;
  binaryLabels?: boolean;
  /** Read ids up to 2^64-1 as local indices plus `keys` (the sharded model's path). */
  keyIds?: boolean;
}

/** Gradient-boosting kernels (native/binding/gbdt_wrap.cc, native/gbdt/hist.h); algorithms/mart wraps them. */
export interface GbdtKernels {
  /** Bins CSR rows into `out` (numRows * numFeatures, pre-zeroed; 0 = missing). */
  binRows(rowPtr: Uint32Array, featureIds: Uint32Array, values: Float32Array, cutPtr: Uint32Array, cuts: Float32Array, numFeatures: number, out: Uint8Array): void;
  /** Adds the (gradient, hessian) sums of `rows` per (feature, bin) slot into `hist`. */
  buildHist(bins: Uint8Array, numFeatures: number, rows: Uint32Array, grad: Float64Array, hess: Float64Array, binOffsets: Uint32Array, hist: Float64Array, threads: number): void;
  /** Stable in-place partition of `rows` into left then right; returns the count left. */
  partitionRows(bins: Uint8Array, numFeatures: number, rows: Uint32Array, feature: number, threshold: number, defaultLeft: boolean, scratch: Uint32Array): number;
  /** Adds the sums of interleaved fixed-point pairs gh[2r], gh[2r + 1] of `rows` per slot into `hist`. */
  buildHistPairs(bins: Uint8Array, numFeatures: number, rows: Uint32Array, gh: Float64Array, binOffsets: Uint32Array, hist: Float64Array, threads: number): void;
  /** out[0] = max |grad[i]|, out[1] = max hess[i] (NaN skipped, at least 0). */
  absMax(grad: Float64Array, hess: Float64Array, out: Float64Array): void;
  /** gh[2i] = Math.round(grad[i] * sg), gh[2i + 1] = Math.round(hess[i] * sh) (JS rounding). */
  quantizePairs(grad: Float64Array, hess: Float64Array, sg: number, sh: number, gh: Float64Array): void;
  /** margins[rows[k]] += values[j] for k in [ranges[2j], ranges[2j + 1]), leaf by leaf. */
  addLeafValues(rows: Uint32Array, ranges: Uint32Array, values: Float64Array, margins: Float64Array): void;
  /** Sorts `values` ascending in place (radix; no NaN, -0 before +0); `scratch` at least as long. */
  sortFloat32(values: Float32Array, scratch: Float32Array): void;
  /** Per feature: its sorted distinct local values and their multiplicities (see native/gbdt/hist.h). */
  featureDistinct(rowPtr: Uint32Array, featureIds: Uint32Array, values: Float32Array, numFeatures: number, offsets: Uint32Array, distinct: Uint32Array, vals: Float32Array, mult: Uint32Array): void;
  /** sortFloat32 for doubles. */
  sortFloat64(values: Float64Array, scratch: Float64Array): void;
  /** Binary logistic grad/hess at `margins` (labels > 0 positive; weights null = 1); see objective.ts. */
  logisticGradients(margins: Float64Array, labels: Float32Array, weights: Float32Array | null, grad: Float64Array, hess: Float64Array): void;
  /** out = [sum of weighted logistic loss, sum of weights], in row order. */
  logisticLoss(margins: Float64Array, labels: Float32Array, weights: Float32Array | null, out: Float64Array): void;
  /** margins[r] += leaf value of row r in a binned tree. */
  addTreeBins(bins: Uint8Array, numFeatures: number, left: Int32Array, right: Int32Array, feature: Int32Array, threshold: Int32Array, defaultLeft: Uint8Array, leafValue: Float64Array, margins: Float64Array): void;
}

/**
 * The per-step passes of the FM ALS / MCMC solvers over one rank's entries of a block of
 * features in row order (row, pos: position in `block`, val). A step is a block of features and a
 * range [lo, hi) of their coordinates (0: w, 1 + f: v_f; hi - lo <= 32). params: k + 1 doubles
 * per feature; q: q_if at i * k + f; resid: one per row. Sums are exact_sums.ts limbs (count =
 * limbs.length / 2 sums, all high limbs first), a step's from sum `first`: per block feature the
 * Gram lower triangle (a, b <= a at a (a + 1) / 2 + b), then sum h_a e, then (withOnes) sum h_a.
 * See native/fm/coordinate_kernels.h. Validated natively (TypeError / RangeError naming the
 * argument).
 */
export interface FmKernels {
  /** This rank's exact sums of the step. Returns -1, or the block position of a feature whose terms reached 2^19. */
  blockStats(row: Uint32Array, pos: Int32Array, val: Float64Array, block: Int32Array, k: number, lo: number, hi: number, q: Float64Array, resid: Float64Array, params: Float64Array, withOnes: boolean, limbs: Float64Array, first: number): number;
  /** e_i -= sum_a delta_a h_ia (h at the old values) and q_if += delta_(1+f) x_i; delta and oldValue hold block feature b's coordinate lo + a at b * (hi - lo) + a. */
  blockApply(row: Uint32Array, pos: Int32Array, val: Float64Array, block: Int32Array, k: number, lo: number, hi: number, q: Float64Array, resid: Float64Array, delta: Float64Array, oldValue: Float64Array): void;
  /** Every row's score into yhat and its q_if into q (row-major); entryFeature: each entry's feature index into params (stride k + 1). */
  rowScores(rowPtr: Uint32Array, entryFeature: Int32Array, values: Float32Array, params: Float64Array, k: number, w0: number, q: Float64Array, yhat: Float64Array): void;
  /**
   * The step's draws from its summed sums: for every block feature, coordinates lo..hi-1 in
   * turn, posterior precision alpha sum h^2 + lambda_c, mean (alpha (sum h e + theta sum h^2) +
   * lambda_c mu_c) / precision, sum h e first moved by -shift * sum h (withOnes) and by the
   * feature's earlier coordinates' changes; a draw from coordinate_stream.ts's stream (seed,
   * kindW, iteration, feature id) for w, (seed, kindV, iteration, id * k + f) for v_f when
   * `sample`, else the mean. lambda, mu: k + 1 values. Writes params, oldValue and delta.
   */
  drawBlock(block: Int32Array, featureIds: Float64Array, params: Float64Array, k: number, lo: number, hi: number, withOnes: boolean, limbs: Float64Array, first: number, seed: number, kindW: number, kindV: number, iteration: number, alpha: number, lambda: Float64Array, mu: Float64Array, sample: boolean, shift: number, delta: Float64Array, oldValue: Float64Array): void;
  /** Probit residuals resid_i = z_i - yhat_i, z_i ~ N(yhat_i, 1) truncated to the side of labels_i (non-zero: z > 0); row i's stream (seed, kind, iteration, rowOffset + i). */
  probitResiduals(labels: Float64Array, yhat: Float64Array, seed: number, kind: number, iteration: number, rowOffset: number, resid: Float64Array): void;
  /** Exact [sum e^2, sum e] into sums first, first + 1 of limbs; -1, or the index of a residual out of range. */
  residualStats(resid: Float64Array, limbs: Float64Array, first: number): number;
}

/**
 * The data term of logistic regression over CSR rows, synchronous and copy-free. Arguments are
 * validated natively (TypeError for a wrong array type, RangeError for lengths, offsets and
 * feature ids >= numFeatures); w and grad hold numFeatures + (bias ? 1 : 0) values.
 */
export interface LinearKernels {
  /**
   * Returns C * sum_i v_i * log(1 + exp(-y_i z_i)) and overwrites grad with its gradient (bias
   * slot last). Rows are split into `threads` fixed contiguous chunks (deterministic for a given
   * count); `work` is scratch of at least threads * 2 * dim doubles.
   */
  lossGrad(
    rowPtr: Uint32Array,
    featureIds: Uint32Array,
    values: Float32Array,
    labels: Float32Array,
    weights: Float32Array | null,
    w: Float64Array,
    numFeatures: number,
    bias: boolean,
    c: number,
    grad: Float64Array,
    threads: number,
    work: Float64Array,
    /** When given (numRows doubles): each row's C*v_i*sigma*(1-sigma), the D of the Hessian X'DX. */
    curvature?: Float64Array | null,
  ): number;
  /**
   * out = X' (curvature .* (X v)) over the rows (bias slot last, a column of ones): the data
   * term's Hessian times v at the w where lossGrad wrote `curvature`. Same chunking and scratch
   * size as lossGrad (deterministic for a thread count).
   */
  hessianVector(
    rowPtr: Uint32Array,
    featureIds: Uint32Array,
    values: Float32Array,
    curvature: Float64Array,
    v: Float64Array,
    numFeatures: number,
    bias: boolean,
    out: Float64Array,
    threads: number,
    work: Float64Array,
  ): void;
  /** out_j = sum_i curvature_i * x_ij^2 (bias: sum_i curvature_i): the diagonal of X'DX, same chunking. */
  hessianDiagonal(
    rowPtr: Uint32Array,
    featureIds: Uint32Array,
    values: Float32Array,
    curvature: Float64Array,
    numFeatures: number,
    bias: boolean,
    out: Float64Array,
    threads: number,
    work: Float64Array,
  ): void;
  /**
   * out = -H g, the L-BFGS two-loop recursion over the pairs s[k], y[k] (oldest first, each of
   * g.length values) with rho[k] = 1/(s[k].y[k]) and H0 = (s.y/y.y) I from the newest pair;
   * out = -g without pairs. out may be g but must not overlap a pair.
   */
  twoLoop(s: Float64Array[], y: Float64Array[], rho: Float64Array, g: Float64Array, out: Float64Array): void;
  /**
   * C * sum_i v_i * log(1 + exp(-y_i m_i)) at margins m = z + t*dz (dz null: m = z); when r and d
   * are given, each row's C v_i (sigma_i - 1) y_i and C v_i sigma_i (1 - sigma_i) (newton-l1).
   */
  rowsLoss(z: Float64Array, dz: Float64Array | null, t: number, labels: Float32Array, weights: Float32Array | null, c: number, r: Float64Array | null, d: Float64Array | null): number;
  /** Per column of a CSC block over r.length rows: G_j = sum_i x_ij r_i, H_j = nu + sum_i d_i x_ij^2. */
  columnStats(colPtr: Uint32Array, rowIdx: Uint32Array, values: Float32Array, r: Float64Array, d: Float64Array, nu: number, G: Float64Array, H: Float64Array): void;
  /**
   * newGLMNET's inner solver: coordinate descent with shrinking over the `active` columns on the
   * quadratic model G.d + d'(X'DX + nu I)d/2 + l1*|w + d|_1 (columns >= penalized: no L1), from
   * d and xd = X d (one value per row, D.length) as given (zeros to start; continues a call that
   * stopped at maxPasses). Returns the passes made (< maxPasses: converged).
   */
  coordinateDescent(
    colPtr: Uint32Array,
    rowIdx: Uint32Array,
    values: Float32Array,
    D: Float64Array,
    G: Float64Array,
    H: Float64Array,
    w: Float64Array,
    active: Uint32Array,
    d: Float64Array,
    xd: Float64Array,
    options: CdOptions,
  ): number;
  /** Q = X'DX over the CSR rows as a dense dim x dim row-major matrix (bias: a column of ones; numFeatures <= 65535). */
  denseHessian(rowPtr: Uint32Array, featureIds: Uint32Array, values: Float32Array, D: Float64Array, numFeatures: number, bias: boolean, Q: Float64Array): void;
  /** coordinateDescent on the model with the dense Hessian Q (+ nu I; H its diagonal + nu), from d and qd = Q d as given. */
  denseCoordinateDescent(Q: Float64Array, G: Float64Array, H: Float64Array, w: Float64Array, active: Uint32Array, numRows: number, d: Float64Array, qd: Float64Array, options: CdOptions): number;
  /** out += sum over cols of amounts[j] * column j (amounts: one value per column; zeros skipped): X e over this CSC's rows (out.length). */
  addColumns(colPtr: Uint32Array, rowIdx: Uint32Array, values: Float32Array, cols: Uint32Array, amounts: Float64Array, out: Float64Array): void;
  /** out[k] = sum_i x_i,cols[k] * D_i * xd_i over this CSC's rows (D.length): a block's share of the model gradient. */
  columnDots(colPtr: Uint32Array, rowIdx: Uint32Array, values: Float32Array, D: Float64Array, xd: Float64Array, cols: Uint32Array, out: Float64Array): void;
  /**
   * coordinateDescent's step on every column of `cols` at once, with the model gradient
   * G_j + dots[k] + nu d_j (dots: columnDots summed over all ranks); updates d and this rank's
   * xd. Shrinking: a column at w_j + d_j = 0 whose gradient lies inside (-l1 + shrinkBound,
   * l1 - shrinkBound) takes no step and leaves `cols` (Infinity: none does); the `kept`
   * columns move to the front of `cols`, in order. norm1, gmax: the kept columns' violation
   * 1-norm and largest term before the steps.
   */
  blockStep(
    colPtr: Uint32Array,
    rowIdx: Uint32Array,
    values: Float32Array,
    G: Float64Array,
    H: Float64Array,
    w: Float64Array,
    cols: Uint32Array,
    dots: Float64Array,
    d: Float64Array,
    xd: Float64Array,
    options: CdOptions,
    shrinkBound: number,
  ): { norm1: number; gmax: number; kept: number };
}

/** The inner solver's settings (newton-l1): L1 weight, L1-penalized column count, Hessian shift, tolerance, pass limit, order seed. */
export interface CdOptions {
  l1: number;
  penalized: number;
  nu: number;
  tol: number;
  maxPasses: number;
  seed: number;
}

/** Where a packed tarball keeps its prebuilt addon (scripts/prebuild.mjs puts it there; N-API, so one per platform). */
export const PREBUILD_DIR = `prebuilds/${process.platform}-${process.arch}`;

function load(): NativeBinding {
  const require = createRequire(import.meta.url);
  const here = dirname(fileURLToPath(import.meta.url));
  const root = resolve(here, '../..');
  // As node-gyp-build looks: an explicit path (debug builds), a local build (a checkout, or the
  // compile fallback of an install), then the prebuilt addon the package ships for this platform.
  const candidates = [
    process.env.SHOAL_NATIVE_PATH,
    resolve(root, 'build/Release/shoal_native.node'),
    resolve(root, PREBUILD_DIR, 'shoal_native.node'),
  ].filter((p): p is string => typeof p === 'string' && p.length > 0);
  for (const path of candidates) {
    if (existsSync(path)) return require(path) as NativeBinding;
  }
  throw new Error(
    `Shoal's native addon is not built and no prebuilt one ships for ${process.platform}-${process.arch} ` +
      `(looked in ${candidates.join(', ')}). Build it from source in ${root}: 'npm run build:native' ` +
      `(needs cmake-js, node-addon-api, cmake and a C++17 compiler).`,
  );
}

export const native: NativeBinding = load();

/** Turns a rejection from the addon into a ShoalError subclass with op/seq/rank context. */
export function toShoalError(err: unknown, details: ShoalErrorDetails): Error {
  if (err instanceof Error) {
    const code = (err as Error & { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('ERR_') && code in NATIVE_ERROR_CODE) {
      const peer = (err as Error & { peer?: number }).peer;
      const out: ShoalError = errorForCode(code as ErrorCode, err.message, { ...details, ...(peer !== undefined ? { peer } : {}) });
      return out;
    }
    return err;
  }
  return new Error(String(err));
}
