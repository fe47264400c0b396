// Synthetic data sets with a planted model, so Shoal's default job, its tests and its scale
// benchmarks need no outside data. Output is libsvm text that readLibsvm reads; the same seed
// and options always give the same bytes. The planted parameters are a pure function of
// (seed, index) (lib/data/rng.ts hashNormal), so plantedModel() can rebuild them without the
// files, and tests can check the generated labels are learnable.
//
// Tasks and formats (feature ids are 1-based, as in LIBSVM files):
//   binary   CTR-like sparse classification. Each row has about `nnz` distinct ids (uniform
//            in [nnz/2, 3nnz/2] draws, deduplicated, sorted) drawn from 1..features with
//            P(id = k) ~ 1/k (power law: low ids are the frequent ones), every value 1.
//            label 0/1 ~ Bernoulli(sigmoid(-1 + sum of planted weights of the row's ids)).
//   dense    HIGGS-like dense classification: every one of `features` values is written
//            (zeros included) as N(0,1) rounded to 4 decimals; label 0/1 ~
//            Bernoulli(sigmoid(linear part + x1*x2 interaction - |x3|)), so trees beat a line.
//   rank     learning to rank: `queries` queries of 5..40 documents; each of `features`
//            features is present with probability 1/2 with a U(0,1) value; relevance 0..4 is
//            a thresholded noisy planted linear score. Lines are `rel qid:Q id:v ...` (Q is
//            the 1-based query number, unless qid: false) and FILE.query holds the group
//            sizes, one per line (LightGBM convention), for the train and the test file.
//   ratings  recommendation (libFM style): `rows` ratings of power-law-popular users 1..users
//            and items 1..items. A line is `rating u:1 (users+i):1`: feature u is the user
//            one-hot, feature users+i the item one-hot (as the MovieLens libfm files in
//            /work/shared/data). rating = clamp(round(3.6 + b_u + b_i + <p_u, q_i> + noise),
//            1, 5) with 8 planted factors. The same (user, item) pair may occur twice.
//
// Id space (idSpace 40 or 64, binary and ratings): every written feature id is
// spreadId(index, bits) (lib/data/id_space.ts), a bijective hash of the planted index into
// [1, 2^bits), fields sorted by id; labels and the planted model are those of the plain data
// set (plantedModel scores planted indices, not spread ids).
//
// Train/test split: with testOut, each row (each query for rank) goes to the test file with
// probability testFraction, decided by its own random stream, so the union of the two files
// is the same data set whatever the fraction.

import { closeSync, openSync, writeSync } from 'node:fs';

import { invalidArgument } from '../errors.js';
import { ID_SPACE_BITS, spreadFields, type IdSpaceBits } from './id_space.js';
import { hashNormal, Rng } from '../rng.js';
import { sigmoid } from '../sigmoid.js';

export type DatagenTask = 'binary' | 'dense' | 'rank' | 'ratings';

export interface DatagenOptions {
  task: DatagenTask;
  /** The (train) data file to write. */
  out: string;
  /** Also write a test file; default `${out}.test` when testFraction is given. */
  testOut?: string;
  /** Share of rows (queries for rank) that go to the test file; default 0.2 when testOut is given. */
  testFraction?: number;
  /** Seed of the data and the planted model (default 1). */
  seed?: number;
  /** Rows for binary, dense and ratings (default 1e6). */
  rows?: number;
  /** Feature count: binary 1e6, dense 28, rank 40 by default. */
  features?: number;
  /** binary: mean non-zeros per row (default 30). */
  nnz?: number;
  /** rank: number of queries (default 1e4). */
  queries?: number;
  /** ratings: users (default 1e5) and items (default 1e4). */
  users?: number;
  items?: number;
  /** binary, ratings: write feature ids hashed into [1, 2^idSpace) (lib/data/id_space.ts) instead of 1..features. */
  idSpace?: IdSpaceBits;
  /** rank: write qid: fields as well as the .query file (default true). */
  qid?: boolean;
  /** Called now and then with rows (queries for rank) done and the total. */
  onProgress?: (done: number, total: number) => void;
}

export interface DatagenResult {
  task: DatagenTask;
  /** Every file written: data files and .query files. */
  files: string[];
  trainRows: number;
  testRows: number;
  /** Queries for rank, else 0. */
  trainQueries: number;
  testQueries: number;
  /** Bytes written, all files. */
  bytes: number;
}

/** Defaults per task, as the CLI documents them. */
export const DATAGEN_DEFAULTS = {
  binary: { rows: 1e6, features: 1e6, nnz: 30 },
  dense: { rows: 1e6, features: 28 },
  rank: { queries: 1e4, features: 40 },
  ratings: { rows: 1e6, users: 1e5, items: 1e4 },
} as const;

/** The planted model of a generated data set: score(row) is the noise-free margin/relevance/rating. */
export interface PlantedModel {
  task: DatagenTask;
  /** Score of one CSR row (entries [start, end) of ids/values), as the generator computed it. */
  score(featureIds: ArrayLike<number>, values: ArrayLike<number>, start: number, end: number): number;
}

const TAG_BINARY = 1;
const TAG_DENSE = 2;
const TAG_RANK = 3;
const TAG_USER_BIAS = 4;
const TAG_ITEM_BIAS = 5;
const TAG_USER_FACTOR = 6;
const TAG_ITEM_FACTOR = 7;
const FACTORS = 8;
const BINARY_BIAS = -1;
const RATING_MEAN = 3.6;

const round4 = (v: number): number => Math.round(v * 1e4) / 1e4 + 0;

function resolved(o: Pick<DatagenOptions, 'task' | 'seed' | 'rows' | 'features' | 'nnz' | 'queries' | 'users' | 'items'>) {
  const op = 'generateDataset';
  const int = (name: string, v: number | undefined, fallback: number, min = 1, max = 2 ** 31 - 1): number => {
    const x = v ?? fallback;
    if (!Number.isInteger(x) || x < min || x > max) throw invalidArgument(op, name, `an integer in [${min}, ${max}]`, v, true);
    return x;
  };
  const seed = o.seed ?? 1;
  if (!Number.isSafeInteger(seed) || seed < 0) throw invalidArgument(op, 'seed', 'a non-negative safe integer', o.seed, true);
  switch (o.task) {
    case 'binary': {
      const d = DATAGEN_DEFAULTS.binary;
      return { seed, rows: int('rows', o.rows, d.rows, 0), features: int('features', o.features, d.features), nnz: int('nnz', o.nnz, d.nnz), queries: 0, users: 0, items: 0 };
    }
    case 'dense': {
      const d = DATAGEN_DEFAULTS.dense;
      return { seed, rows: int('rows', o.rows, d.rows, 0), features: int('features', o.features, d.features, 3, 1e6), nnz: 0, queries: 0, users: 0, items: 0 };
    }
    case 'rank': {
      const d = DATAGEN_DEFAULTS.rank;
      return { seed, rows: 0, features: int('features', o.features, d.features, 1, 1e6), nnz: 0, queries: int('queries', o.queries, d.queries, 0), users: 0, items: 0 };
    }
    case 'ratings': {
      const d = DATAGEN_DEFAULTS.ratings;
      const users = int('users', o.users, d.users);
      const items = int('items', o.items, d.items, 1, 2 ** 31 - 1 - users);
      return { seed, rows: int('rows', o.rows, d.rows, 0), features: users + items, nnz: 0, queries: 0, users, items };
    }
    default:
      throw invalidArgument(op, 'task', "'binary'|'dense'|'rank'|'ratings'", o.task);
  }
}

/**
 * The planted model behind generateDataset's data for these options (only task, seed and the
 * shape options matter). Pure: reads no files.
 * @throws {TypeError|RangeError} ERR_INVALID_ARGUMENT for bad options.
 * @example
 * const m = plantedModel({ task: 'binary', seed: 7, features: 1000 });
 * const margin = m.score(csr.featureIds, csr.values, csr.rowPtr[i]!, csr.rowPtr[i + 1]!);
 */
export function plantedModel(options: Pick<DatagenOptions, 'task' | 'seed' | 'rows' | 'features' | 'nnz' | 'queries' | 'users' | 'items'>): PlantedModel {
  const r = resolved(options);
  const { seed, features } = r;
  switch (options.task) {
    case 'binary': {
      // Weights are hashed per id rather than stored: features may be 1e9.
      const scale = 2.5 / Math.sqrt(r.nnz);
      return {
        task: 'binary',
        score(ids, values, start, end) {
          let z = BINARY_BIAS;
          for (let k = start; k < end; k++) z += scale * hashNormal(seed, TAG_BINARY, ids[k] as number) * (values[k] as number);
          return z;
        },
      };
    }
    case 'dense': {
      const w = new Float64Array(features + 1);
      for (let j = 1; j <= features; j++) w[j] = (2 / Math.sqrt(features)) * hashNormal(seed, TAG_DENSE, j);
      return {
        task: 'dense',
        score(ids, values, start, end) {
          let z = 0.4;
          let x1 = 0;
          let x2 = 0;
          let x3 = 0;
          for (let k = start; k < end; k++) {
            const j = ids[k] as number;
            const v = values[k] as number;
            z += (w[j] ?? 0) * v;
            if (j === 1) x1 = v;
            else if (j === 2) x2 = v;
            else if (j === 3) x3 = v;
          }
          return z + 0.8 * x1 * x2 - 0.5 * Math.abs(x3);
        },
      };
    }
    case 'rank': {
      const w = new Float64Array(features + 1);
      for (let j = 1; j <= features; j++) w[j] = hashNormal(seed, TAG_RANK, j) / Math.sqrt(features);
      return {
        task: 'rank',
        score(ids, values, start, end) {
          let z = 0;
          for (let k = start; k < end; k++) z += (w[ids[k] as number] ?? 0) * (values[k] as number);
          return z;
        },
      };
    }
    case 'ratings': {
      const { users } = r;
      const sigma = 0.9 / Math.pow(FACTORS, 0.25);
      return {
        task: 'ratings',
        score(ids, _values, start, end) {
          let u = 0;
          let i = 0;
          for (let k = start; k < end; k++) {
            const id = ids[k] as number;
            if (id <= users) u = id;
            else i = id - users;
          }
          return ratingScore(seed, sigma, u, i);
        },
      };
    }
  }
}

function ratingScore(seed: number, sigma: number, u: number, i: number): number {
  let z = RATING_MEAN + 0.3 * hashNormal(seed, TAG_USER_BIAS, u) + 0.5 * hashNormal(seed, TAG_ITEM_BIAS, i);
  for (let f = 0; f < FACTORS; f++) {
    z += sigma * sigma * hashNormal(seed, TAG_USER_FACTOR, u * FACTORS + f) * hashNormal(seed, TAG_ITEM_FACTOR, i * FACTORS + f);
  }
  return z;
}

// Buffers lines and writes them in ~1 MiB blocks.
class LineSink {
  private fd: number;
  private parts: string[] = [];
  private pending = 0;
  bytes = 0;
  rows = 0;

  constructor(readonly path: string) {
    this.fd = openSync(path, 'w');
  }

  push(line: string): void {
    this.parts.push(line);
    this.pending += line.length;
    if (this.pending >= 1 << 20) this.flush();
  }

  flush(): void {
    if (this.parts.length === 0) return;
    const buf = Buffer.from(this.parts.join(''), 'latin1');
    let off = 0;
    while (off < buf.length) off += writeSync(this.fd, buf, off);
    this.bytes += buf.length;
    this.parts = [];
    this.pending = 0;
  }

  close(): void {
    this.flush();
    closeSync(this.fd);
  }
}

/**
 * Writes a synthetic data set (see the file header for the formats) and returns what it wrote.
 * Deterministic: the same options give the same bytes. CPU-bound on the JS thread, yielding to
 * the event loop every few thousand rows.
 * @throws {TypeError|RangeError} ERR_INVALID_ARGUMENT for bad options; Node's fs errors for files.
 * @example
 * await generateDataset({ task: 'binary', rows: 1e5, features: 1e4, out: 'train.svm', testOut: 'test.svm' });
 */
export async function generateDataset(options: DatagenOptions): Promise<DatagenResult> {
  const op = 'generateDataset';
  if (options === null || typeof options !== 'object') throw invalidArgument(op, 'options', 'an object', options);
  const r = resolved(options);
  if (typeof options.out !== 'string' || options.out === '') throw invalidArgument(op, 'out', 'a file name', options.out);
  if (options.testOut !== undefined && (typeof options.testOut !== 'string' || options.testOut === '')) {
    throw invalidArgument(op, 'testOut', 'a file name', options.testOut);
  }
  const f = options.testFraction;
  if (f !== undefined && !(typeof f === 'number' && f >= 0 && f <= 1)) throw invalidArgument(op, 'testFraction', 'a number in [0, 1]', f, true);
  const testOut = options.testOut ?? (f !== undefined ? `${options.out}.test` : undefined);
  const fraction = testOut === undefined ? 0 : (f ?? 0.2);
  const bits = options.idSpace;
  if (bits !== undefined && !(ID_SPACE_BITS as readonly number[]).includes(bits)) {
    throw invalidArgument(op, 'idSpace', ID_SPACE_BITS.join(' or '), bits, true);
  }
  if (bits !== undefined && options.task !== 'binary' && options.task !== 'ratings') {
    throw invalidArgument(op, 'idSpace', `no value for task '${options.task}' (id spaces apply to tasks 'binary' and 'ratings')`, bits, true);
  }

  const rng = new Rng(r.seed, 0);
  const splitRng = new Rng(r.seed, 1);
  const train = new LineSink(options.out);
  const test = testOut !== undefined ? new LineSink(testOut) : null;
  const sinkFor = (): LineSink => (test !== null && splitRng.next() < fraction ? test : train);
  const model = plantedModel(options);
  const total = options.task === 'rank' ? r.queries : r.rows;
  const progressEvery = Math.max(1, Math.ceil(total / 100));
  const files = [train.path, ...(test ? [test.path] : [])];
  const groups = new Map<LineSink, number[]>();

  try {
    const ids = new Uint32Array(Math.max(1, 2 * r.nnz + 2));
    const vals = new Float64Array(Math.max(1, r.features + 1));
    const idx = new Uint32Array(Math.max(1, r.features + 1));
    const ones = new Float64Array(ids.length).fill(1);
    const emit = (line: string): void => {
      const sink = sinkFor();
      sink.push(line);
      sink.rows++;
    };
    // rank: standardise the planted score with its exact mean and variance when features are
    // present with probability 1/2 and U(0,1) (mean w/4, variance w^2 (1/3 - 1/16)), plus noise.
    let rankMean = 0;
    let rankVariance = 0.09;
    if (options.task === 'rank') {
      for (let j = 1; j <= r.features; j++) {
        const wj = model.score([j], [1], 0, 1);
        rankMean += wj / 4;
        rankVariance += wj * wj * (1 / 3 - 1 / 16);
      }
    }
    const rankSd = Math.sqrt(rankVariance);
    for (let done = 0; done < total; done++) {
      switch (options.task) {
        case 'binary': {
          const count = Math.max(1, Math.round(r.nnz * (0.5 + rng.next())));
          for (let k = 0; k < count; k++) ids[k] = rng.powerLaw(r.features);
          const sorted = ids.subarray(0, count).sort();
          let n = 0;
          for (let k = 0; k < count; k++) if (k === 0 || sorted[k] !== sorted[k - 1]) sorted[n++] = sorted[k] as number;
          const label = rng.next() < sigmoid(model.score(sorted, ones, 0, n)) ? 1 : 0;
          let line = String(label);
          if (bits !== undefined) line += spreadFields(sorted, n, bits);
          else for (let k = 0; k < n; k++) line += ` ${sorted[k]}:1`;
          emit(line + '\n');
          break;
        }
        case 'dense': {
          for (let j = 1; j <= r.features; j++) {
            idx[j - 1] = j;
            vals[j - 1] = round4(rng.normal());
          }
          const label = rng.next() < sigmoid(model.score(idx, vals, 0, r.features)) ? 1 : 0;
          let line = String(label);
          for (let j = 0; j < r.features; j++) line += ` ${j + 1}:${vals[j]}`;
          emit(line + '\n');
          break;
        }
        case 'rank': {
          const docs = 5 + rng.int(36);
          const sink = sinkFor();
          const q = done + 1;
          for (let d = 0; d < docs; d++) {
            let n = 0;
            for (let j = 1; j <= r.features; j++) {
              const present = rng.next() < 0.5;
              const v = round4(rng.next());
              if (present && v !== 0) {
                idx[n] = j;
                vals[n++] = v;
              }
            }
            const z = (model.score(idx, vals, 0, n) + 0.3 * rng.normal() - rankMean) / rankSd;
            const rel = z < 0 ? 0 : z < 0.7 ? 1 : z < 1.3 ? 2 : z < 1.8 ? 3 : 4;
            let line = options.qid === false ? String(rel) : `${rel} qid:${q}`;
            for (let k = 0; k < n; k++) line += ` ${idx[k]}:${vals[k]}`;
            sink.push(line + '\n');
          }
          sink.rows += docs;
          const g = groups.get(sink) ?? [];
          g.push(docs);
          groups.set(sink, g);
          break;
        }
        case 'ratings': {
          const u = rng.powerLaw(r.users);
          const i = rng.powerLaw(r.items);
          idx[0] = u;
          idx[1] = r.users + i;
          const pred = model.score(idx, vals, 0, 2) + 0.4 * rng.normal();
          const rating = Math.min(5, Math.max(1, Math.round(pred)));
          emit(bits !== undefined ? `${rating}${spreadFields(idx, 2, bits)}\n` : `${rating} ${u}:1 ${r.users + i}:1\n`);
          break;
        }
      }
      if ((done + 1) % progressEvery === 0 || done + 1 === total) {
        options.onProgress?.(done + 1, total);
        if ((done + 1) % (progressEvery * 5) === 0) await new Promise<void>((resolve) => setImmediate(resolve));
      }
    }
  } finally {
    train.close();
    test?.close();
  }

  let bytes = train.bytes + (test?.bytes ?? 0);
  let trainQueries = 0;
  let testQueries = 0;
  if (options.task === 'rank') {
    for (const sink of test ? [train, test] : [train]) {
      const g = groups.get(sink) ?? [];
      if (sink === train) trainQueries = g.length;
      else testQueries = g.length;
      const q = new LineSink(`${sink.path}.query`);
      for (const size of g) q.push(`${size}\n`);
      q.close();
      bytes += q.bytes;
      files.push(q.path);
    }
  }
  return { task: options.task, files, trainRows: train.rows, testRows: test?.rows ?? 0, trainQueries, testQueries, bytes };
}
