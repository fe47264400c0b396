// The job's history as series (one per metric and process), kept whole but bounded: when a
// series outgrows its capacity, neighbouring points are merged pairwise into buckets (x, y and t
// become means, the min and max of y are kept) and the bucket width doubles; later raw points
// fill the last bucket up to that width. So a 100k-iteration job keeps its start, at one even
// grain over the whole run, with the spread of each bucket drawn as a band. The dashboard, `--report` and
// `shoal report` all draw from this shape (lib/monitor/charts_js.ts).

/** One series' points, column-wise (the shape uPlot takes). A raw point has lo = hi = y and n = 1. */
export interface SeriesData {
  /** Metric name: a `comm.report` key (`loss`, `auc`, ...) or a rate (`collective GB/s`, `PS keys/s`). */
  metric: string;
  role: 'worker' | 'server';
  rank: number;
  /** What x is: the reported iteration, or seconds since the job started. */
  xKind: 'iteration' | 'seconds';
  x: number[];
  y: number[];
  lo: number[];
  hi: number[];
  /** Raw points merged into each point. */
  n: number[];
  /** Raw points per bucket now (1 until the first merge, then doubling). */
  width: number;
  /** Seconds since the job started, per point (mean for buckets). */
  t: number[];
}

/** Points per series (default). 600 x a few metrics x 64 ranks stays well under a megabyte of JSON. */
export const DEFAULT_SERIES_CAPACITY = 600;

/**
 * Series in all (names x processes). A program that reports a new name every iteration
 * (`loss_${i}`) would otherwise grow the coordinator without bound; later names are dropped, counted.
 */
export const MAX_SERIES = 4096;
/** Longer names are dropped: they are not metric names. */
export const MAX_METRIC_NAME = 200;

/** Keys of `comm.report` that are the x-axis or plan, not something to chart. */
export const AXIS_KEYS = new Set(['iteration', 'epoch', 'planned']);

export class SeriesStore {
  readonly #series = new Map<string, SeriesData>();
  readonly #capacity: number;
  /** Moves on with every change: the dashboard fetches the series only when it moved. */
  version = 0;
  /** Points refused because their series would have been one too many, or their name too long. */
  dropped = 0;

  constructor(capacity = DEFAULT_SERIES_CAPACITY) {
    if (!Number.isInteger(capacity) || capacity < 4) throw new RangeError(`SeriesStore: capacity must be an integer >= 4, got ${capacity}`);
    this.#capacity = capacity;
  }

  /** Appends one raw point to (metric, role, rank); non-finite values are dropped. */
  add(metric: string, role: 'worker' | 'server', rank: number, xKind: SeriesData['xKind'], x: number, y: number, t: number): void {
    if (!Number.isFinite(x) || !Number.isFinite(y) || !Number.isFinite(t)) return;
    const key = `${metric}\u0000${role}\u0000${rank}`;
    let s = this.#series.get(key);
    if (!s) {
      if (this.#series.size >= MAX_SERIES || metric.length > MAX_METRIC_NAME) {
        this.dropped++;
        return;
      }
      s = { metric, role, rank, xKind, x: [], y: [], lo: [], hi: [], n: [], t: [], width: 1 };
      this.#series.set(key, s);
    }
    this.version++;
    const last = s.x.length - 1;
    if (last >= 0 && s.n[last]! < s.width) {
      const n = s.n[last]!;
      s.x[last] = (s.x[last]! * n + x) / (n + 1);
      s.y[last] = (s.y[last]! * n + y) / (n + 1);
      s.t[last] = (s.t[last]! * n + t) / (n + 1);
      s.lo[last] = Math.min(s.lo[last]!, y);
      s.hi[last] = Math.max(s.hi[last]!, y);
      s.n[last] = n + 1;
      return;
    }
    s.x.push(x);
    s.y.push(y);
    s.lo.push(y);
    s.hi.push(y);
    s.n.push(1);
    s.t.push(t);
    if (s.x.length > this.#capacity) mergePairs(s);
  }

  all(): SeriesData[] {
    return [...this.#series.values()].sort((a, b) => (a.metric < b.metric ? -1 : a.metric > b.metric ? 1 : 0) || (a.role < b.role ? -1 : a.role > b.role ? 1 : 0) || a.rank - b.rank);
  }

  /** Raw points merged so far in (metric, role, rank): bounded memory must not hide data loss. */
  count(metric: string, role: 'worker' | 'server', rank: number): number {
    const s = this.#series.get(`${metric}\u0000${role}\u0000${rank}`);
    return s ? s.n.reduce((a, b) => a + b, 0) : 0;
  }
}

/** Merges neighbours pairwise (n-weighted means, min of lo, max of hi) and doubles the bucket width. */
function mergePairs(s: SeriesData): void {
  const cols = { x: [] as number[], y: [] as number[], lo: [] as number[], hi: [] as number[], n: [] as number[], t: [] as number[] };
  for (let i = 0; i < s.x.length; i += 2) {
    if (i + 1 === s.x.length) {
      for (const k of ['x', 'y', 'lo', 'hi', 'n', 't'] as const) cols[k].push(s[k][i]!);
      break;
    }
    const n0 = s.n[i]!;
    const n1 = s.n[i + 1]!;
    const mean = (a: number[]) => (a[i]! * n0 + a[i + 1]! * n1) / (n0 + n1);
    cols.x.push(mean(s.x));
    cols.y.push(mean(s.y));
    cols.t.push(mean(s.t));
    cols.lo.push(Math.min(s.lo[i]!, s.lo[i + 1]!));
    cols.hi.push(Math.max(s.hi[i]!, s.hi[i + 1]!));
    cols.n.push(n0 + n1);
  }
  Object.assign(s, cols);
  s.width *= 2;
}
