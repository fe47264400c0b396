// The MART model: JSON (de)serialisation, scoring of raw CSR rows, feature importance and the
// export to XGBoost's JSON model format. Thresholds are stored as values: a row goes left at
// a split when its value is <= threshold, right when it is greater, and to the default side
// when the feature is missing (absent from the row, or NaN).
import { readFile, writeFile } from 'node:fs/promises';

import type { CsrData } from '../common/dataset.js';
import { sigmoid } from '../../lib/sigmoid.js';
import type { MartObjective, MartParams } from './params.js';

export const MART_FORMAT = 'shoal-mart';
export const MART_VERSION = 1;
/** Largest float32: the threshold of a split that sends every present value left. */
export const F32_MAX = 3.4028234663852886e38;

/** One tree in the model file; arrays are per node, node 0 is the root, left[i] < 0 marks a leaf. */
export interface MartTree {
  left: number[];
  right: number[];
  /** Feature id as in the data file. */
  feature: number[];
  /** Go left when value <= threshold (float32 values, stored exactly). */
  threshold: number[];
  defaultLeft: number[];
  value: number[];
  gain: number[];
  cover: number[];
}

export interface MartModel {
  format: typeof MART_FORMAT;
  version: typeof MART_VERSION;
  objective: MartObjective;
  /** Margin every prediction starts from. */
  baseMargin: number;
  /** Feature slots (max feature id + 1) seen in training. */
  numFeatures: number;
  trees: MartTree[];
  params: MartParams;
  /** Total split gain and cover (hessian) per feature id, over all trees. */
  featureImportance: { gain: Record<string, number>; cover: Record<string, number> };
}

/** Per-feature total gain and cover of a list of trees. */
export function featureImportance(trees: readonly MartTree[]): MartModel['featureImportance'] {
  const gain: Record<string, number> = {};
  const cover: Record<string, number> = {};
  for (const t of trees) {
    for (let i = 0; i < t.left.length; i++) {
      if (t.left[i]! < 0) continue;
      const f = String(t.feature[i]);
      gain[f] = (gain[f] ?? 0) + t.gain[i]!;
      cover[f] = (cover[f] ?? 0) + t.cover[i]!;
    }
  }
  return { gain, cover };
}

/** Raw margins of every row: baseMargin + the sum of the leaves reached (first `numTrees` trees). */
export function predictMargins(model: MartModel, data: Pick<CsrData, 'numRows' | 'rowPtr' | 'featureIds' | 'values'>, numTrees = model.trees.length): Float64Array {
  let width = model.numFeatures;
  const nnz = data.rowPtr[data.numRows] ?? 0;
  for (let k = 0; k < nnz; k++) width = Math.max(width, data.featureIds[k]! + 1);
  const dense = new Float64Array(width).fill(Number.NaN);
  const out = new Float64Array(data.numRows);
  const trees = model.trees.slice(0, numTrees);
  for (let r = 0; r < data.numRows; r++) {
    const lo = data.rowPtr[r]!;
    const hi = data.rowPtr[r + 1]!;
    for (let k = lo; k < hi; k++) dense[data.featureIds[k]!] = data.values[k]!;
    let m = model.baseMargin;
    for (const t of trees) {
      let n = 0;
      while (t.left[n]! >= 0) {
        const v = dense[t.feature[n]!]!;
        const goLeft = Number.isNaN(v) ? t.defaultLeft[n] === 1 : v <= t.threshold[n]!;
        n = goLeft ? t.left[n]! : t.right[n]!;
      }
      m += t.value[n]!;
    }
    out[r] = m;
    for (let k = lo; k < hi; k++) dense[data.featureIds[k]!] = Number.NaN;
  }
  return out;
}

/** Predictions: probabilities for binary:logistic, margins (scores) otherwise. */
export function predict(model: MartModel, data: Pick<CsrData, 'numRows' | 'rowPtr' | 'featureIds' | 'values'>): Float64Array {
  const m = predictMargins(model, data);
  if (model.objective === 'binary:logistic') for (let i = 0; i < m.length; i++) m[i] = sigmoid(m[i]!);
  return m;
}

/** Checks the shape of a parsed model. @throws {TypeError} naming what is wrong. */
export function parseMartModel(json: unknown, source = 'model'): MartModel {
  const m = json as Partial<MartModel> | null;
  if (!m || m.format !== MART_FORMAT) throw new TypeError(`${source}: not a ${MART_FORMAT} model (format ${JSON.stringify(m?.format)})`);
  if (m.version !== MART_VERSION) throw new TypeError(`${source}: unsupported ${MART_FORMAT} version ${JSON.stringify(m.version)}`);
  if (!Array.isArray(m.trees) || typeof m.baseMargin !== 'number') throw new TypeError(`${source}: 'trees' or 'baseMargin' missing`);
  m.trees.forEach((t, i) => {
    const n = t.left?.length ?? 0;
    const ok =
      n > 0 &&
      [t.right, t.feature, t.threshold, t.defaultLeft, t.value].every((a) => Array.isArray(a) && a.length === n) &&
      t.left.every((c, j) => c < 0 || (c > j && c < n && t.right[j]! > j && t.right[j]! < n));
    if (!ok) throw new TypeError(`${source}: tree ${i} is malformed`);
  });
  return m as MartModel;
}

export async function saveMartModel(path: string, model: MartModel): Promise<void> {
  await writeFile(path, `${JSON.stringify(model)}\n`);
}

export async function loadMartModel(path: string): Promise<MartModel> {
  return parseMartModel(JSON.parse(await readFile(path, 'utf8')), path);
}

/** The float32 just above x (XGBoost splits on x < condition; ours on x <= threshold). */
function nextUp32(x: number): number {
  if (x === 0) return 1.401298464324817e-45;
  if (x >= F32_MAX) return F32_MAX;
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer);
  if (x > 0) u[0] = u[0]! + 1;
  else u[0] = u[0]! - 1;
  return f[0]!;
}

/** Keys of the XGBoost JSON model whose values are arrays of floats (XGBoost rejects integers there). */
const XGB_FLOAT_KEYS = new Set(['base_weights', 'loss_changes', 'split_conditions', 'sum_hessian']);

/**
 * The model in XGBoost's JSON model format (`save_model('x.json')`), loadable by XGBoost 1.x
 * (from 1.0) and 2.x, so `xgb.Booster(model_file=...)` scores rows as Shoal does:
 * - feature ids are XGBoost's column indices unchanged (XGBoost reads a libsvm file's id j as
 *   column j), and `num_feature` is the model's feature slots (max id + 1);
 * - XGBoost goes left when `x < split_condition` (float32 compare), Shoal when `x <= t` with
 *   a float32 `t`, so the condition is the next float32 above `t`;
 * - missing values (absent or NaN) take `default_left` in both;
 * - `base_score` is the base margin in the objective's output space (a probability for
 *   binary:logistic, as XGBoost stores it); leaf values are written as float32.
 * Serialise with {@link xgboostJsonText}: XGBoost's loader wants `1.0`, not `1`, in its float
 * arrays, which JSON.stringify cannot write.
 */
export function toXgboostJson(model: MartModel): unknown {
  const objective =
    model.objective === 'binary:logistic'
      ? { name: 'binary:logistic', reg_loss_param: { scale_pos_weight: '1' } }
      : model.objective === 'reg:squarederror'
        ? { name: 'reg:squarederror', reg_loss_param: { scale_pos_weight: '1' } }
        : {
            name: 'rank:ndcg',
            // 1.x reads lambda_rank_param, 2.x lambdarank_param; each ignores the other.
            lambda_rank_param: { num_pairsample: '1', fix_list_weight: '0' },
            lambdarank_param: { lambdarank_num_pair_per_sample: '1', lambdarank_pair_method: 'topk' },
          };
  const baseScore = model.objective === 'binary:logistic' ? sigmoid(model.baseMargin) : model.baseMargin;
  const trees = model.trees.map((t, id) => {
    const n = t.left.length;
    const parents = new Array<number>(n).fill(2147483647);
    t.left.forEach((l, i) => {
      if (l >= 0) {
        parents[l] = i;
        parents[t.right[i]!] = i;
      }
    });
    const leaf = (i: number): boolean => t.left[i]! < 0;
    return {
      base_weights: t.value.map((v, i) => (leaf(i) ? Math.fround(v) : 0)),
      categories: [],
      categories_nodes: [],
      categories_segments: [],
      categories_sizes: [],
      default_left: t.defaultLeft.map((d, i) => (leaf(i) ? 0 : d)),
      id,
      left_children: t.left.map((l) => (l < 0 ? -1 : l)),
      loss_changes: t.gain.map((g) => Math.fround(g)),
      parents,
      right_children: t.right.map((r, i) => (leaf(i) ? -1 : r)),
      split_conditions: t.threshold.map((th, i) => (leaf(i) ? Math.fround(t.value[i]!) : nextUp32(th))),
      split_indices: t.feature.map((f, i) => (leaf(i) ? 0 : f)),
      split_type: new Array<number>(n).fill(0),
      sum_hessian: t.cover.map((c) => Math.fround(c)),
      tree_param: { num_deleted: '0', num_feature: String(model.numFeatures), num_nodes: String(n), size_leaf_vector: '0' },
    };
  });
  return {
    learner: {
      attributes: {},
      feature_names: [],
      feature_types: [],
      gradient_booster: {
        model: {
          gbtree_model_param: { num_parallel_tree: '1', num_trees: String(trees.length), size_leaf_vector: '0' },
          iteration_indptr: Array.from({ length: trees.length + 1 }, (_, i) => i),
          tree_info: new Array<number>(trees.length).fill(0),
          trees,
        },
        name: 'gbtree',
      },
      learner_model_param: { base_score: float32String(baseScore), boost_from_average: '0', num_class: '0', num_feature: String(model.numFeatures), num_target: '1' },
      objective,
    },
    // The oldest format these fields are valid for; 2.x loads 1.x models.
    version: [1, 7, 0],
  };
}

/**
 * The shortest decimal that reads back as float32(x) (at most 9 significant digits). XGBoost
 * parses its float fields as float32, and its parameter parser silently falls back to the
 * default when a string such as base_score has more digits than a float holds.
 */
export function float32String(x: number): string {
  const f = Math.fround(x);
  if (f === 0 || !Number.isFinite(f)) return String(f);
  for (let p = 1; p < 9; p++) {
    const s = f.toPrecision(p);
    if (Math.fround(Number(s)) === f) return String(Number(s));
  }
  return String(Number(f.toPrecision(9)));
}

/** A float for XGBoost's JSON reader: always with a '.' or an exponent; finite (F32_MAX for overflow). */
function xgbFloat(x: number): string {
  const v = Number.isNaN(x) ? 0 : Math.max(-F32_MAX, Math.min(F32_MAX, x));
  const s = float32String(v);
  return /[.eE]/.test(s) ? s : `${s}.0`;
}

/** {@link toXgboostJson} as the JSON text XGBoost loads (floats written as floats). */
export function xgboostJsonText(model: MartModel): string {
  const write = (v: unknown, floats: boolean): string => {
    if (Array.isArray(v)) return `[${v.map((e) => write(e, floats)).join(',')}]`;
    if (typeof v === 'number') return floats ? xgbFloat(v) : String(v);
    if (v !== null && typeof v === 'object') {
      return `{${Object.entries(v).map(([k, e]) => `${JSON.stringify(k)}:${write(e, XGB_FLOAT_KEYS.has(k))}`).join(',')}}`;
    }
    return JSON.stringify(v);
  };
  return `${write(toXgboostJson(model), false)}\n`;
}
