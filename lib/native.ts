// The only module that loads the compiled addon, and its typed interface. Everything else
// in lib/ talks to native code through `native` and turns its errors into lib/errors.ts
// classes with toShoalError().
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { errorForCode, type ErrorCode, type ShoalError, type ShoalErrorDetails } from './errors.js';

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
  /** Pin the comm thread to this CPU (-1 or absent: no pinning). */
  cpu?: number;
  /** For a small op on an idle engine, the JS thread waits this long (µs) for the result before going async. */
  syncWaitUs?: number;
  smallMessageBytes?: number;
  segmentBytes?: number;
  /** Data channel to peers on this host: 'auto' (shared memory when on one host, default), 'tcp' or 'shm'. */
  transport?: 'auto' | 'tcp' | 'shm';
  /** Shared-memory ring size per direction per same-host pair (multiple of 4096). */
  shmRingBytes?: number;
  /** false: flat collectives even when ranks share hosts (default true). */
  hierarchical?: boolean;
  /** Which host this process counts as (SHOAL_HOST_ID); default: boot id + network namespace. */
  hostId?: string;
}

/** One engine: a comm thread, a listening socket and the connections to every peer. */
export interface NativeComm {
  readonly port: number;
  readonly broken: boolean;
  /** 'self', 'tcp' or 'shm' for each rank once connected. */
  readonly transports: string[];
  /** Host index of each rank once connected (ranks on one host share it). */
  readonly hosts: number[];
  connect(peers: Array<{ host: string; port: number }>, timeoutMs: number): Promise<void>;
  collective(
    kind: number,
    buf: NativeBuffer | null,
    recv: NativeBuffer | null,
    reduceOp: number,
    root: number,
    timeoutMs: number,
  ): Promise<void>;
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
}

/**
 * The per-block passes of the FM ALS / MCMC solvers over one rank's entries grouped by feature
 * (colStart: numFeatures + 1 offsets into colRow / colVal). params: stride = k + 1 doubles per
 * feature; factor -1 selects w, f in [0, k) v_.f; q: q_if at f * rows + i; resid: one per row.
 * Validated natively (TypeError / RangeError naming the argument).
 */
export interface FmKernels {
  /**
   * Exact [sum h^2, sum h e] of every block feature into limbs (4 * block.length doubles, the
   * layout of algorithms/fm/exact_sums.ts). Returns -1, or the block position of a feature
   * whose terms reached 2^20.
   */
  blockStats(colStart: Uint32Array, colRow: Uint32Array, colVal: Float64Array, block: Int32Array, params: Float64Array, stride: number, factor: number, q: Float64Array, k: number, resid: Float64Array, limbs: Float64Array): number;
  /** e_i -= delta[b] * h_i (h at oldValue[b]) and, for a factor, q_if += delta[b] * x_i, for every block feature b. */
  blockApply(colStart: Uint32Array, colRow: Uint32Array, colVal: Float64Array, block: Int32Array, params: Float64Array, stride: number, factor: number, q: Float64Array, k: number, resid: Float64Array, delta: Float64Array, oldValue: Float64Array): void;
  /** Every row's score into yhat and its q_if into q (factor-major); entryFeature: each entry's feature index into params (stride k + 1). */
  rowScores(rowPtr: Uint32Array, entryFeature: Int32Array, values: Float32Array, params: Float64Array, k: number, w0: number, q: Float64Array, yhat: Float64Array): void;
  /** Exact [sum e^2, sum e] into limbs (4 doubles, exact_sums.ts's layout); -1, or the index of a residual out of range. */
  residualStats(resid: Float64Array, limbs: Float64Array): number;
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
  /** out[k] = sum_i x_i,cols[k] * D_i * xd_i over this CSC's rows (D.length): a block's share of the model gradient. */
  columnDots(colPtr: Uint32Array, rowIdx: Uint32Array, values: Float32Array, D: Float64Array, xd: Float64Array, cols: Uint32Array, out: Float64Array): void;
  /**
   * coordinateDescent's step on every column of `cols` at once, with the model gradient
   * G_j + dots[k] + nu d_j (dots: columnDots summed over all ranks); updates d and this rank's
   * xd. Returns the block's violation 1-norm before the steps.
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
  ): number;
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

function load(): NativeBinding {
  const require = createRequire(import.meta.url);
  const here = dirname(fileURLToPath(import.meta.url));
  // dist/lib/native.js -> <package>/build/Release; SHOAL_NATIVE_PATH overrides (debug builds).
  const candidates = [
    process.env.SHOAL_NATIVE_PATH,
    resolve(here, '../../build/Release/shoal_native.node'),
    resolve(here, '../build/Release/shoal_native.node'),
  ].filter((p): p is string => typeof p === 'string' && p.length > 0);
  for (const path of candidates) {
    if (existsSync(path)) return require(path) as NativeBinding;
  }
  throw new Error(
    `Shoal's native addon is not built (looked in ${candidates.join(', ')}). ` +
      `Run 'npm run build:native' in ${join(here, '..', '..')} (needs cmake and a C++17 compiler).`,
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
