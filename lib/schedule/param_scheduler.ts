// Which parameters a model-parallel algorithm updates together in the next round (Petuum
// STRADS's scheduler). Updating interdependent parameters at once from the same state makes
// them overshoot together, and updating parameters that have stopped moving wastes the round.
// So the 'dependency' policy samples candidates with probability ~ (last change)^2 + eta, then
// keeps a candidate only if its |correlation| with every parameter already kept is at most
// `threshold`. 'random' (Shotgun) and 'cyclic' are the baselines.
//
// Every rank builds the same scheduler from the same seed and reports the same changes, so the
// schedules agree without being sent anywhere.
import { invalidArgument } from '../errors.js';
import { Rng } from '../rng.js';

export type SchedulePolicy = 'dependency' | 'random' | 'cyclic';

export interface ParamSchedulerOptions {
  /** Parameters 0..numParams-1 are scheduled. */
  numParams: number;
  /** Parameters per round (at most; the dependency check may keep fewer). */
  batch: number;
  /** Default 'dependency'. */
  policy?: SchedulePolicy;
  /** 'dependency': candidates drawn by priority before the check (default 2 * batch). */
  candidates?: number;
  /** 'dependency': largest |correlation| two parameters of one round may have (default 0.1). */
  threshold?: number;
  /**
   * 'dependency': the priority floor, as a fraction of the mean priority (default 0.05), so a
   * parameter that stopped moving is still checked now and then.
   */
  eta?: number;
  seed?: number;
}

/**
 * |correlation| of every pair of `candidates`, row-major `k * k` (the diagonal is not read).
 * For a collective, submit it before the function's first `await` (see runScheduledRounds).
 */
export type DependencyCheck = (candidates: Uint32Array) => Float64Array | Promise<Float64Array>;

function intAtLeast(name: string, v: unknown, min: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) throw invalidArgument('ParamScheduler', name, `an integer >= ${min}`, v, typeof v === 'number');
  return v;
}

function inRange(name: string, v: unknown, lo: number, hi: number): number {
  if (typeof v !== 'number' || !(v >= lo && v <= hi)) throw invalidArgument('ParamScheduler', name, `a number in [${lo}, ${hi}]`, v, typeof v === 'number');
  return v;
}

export class ParamScheduler {
  readonly numParams: number;
  readonly batch: number;
  readonly policy: SchedulePolicy;
  readonly candidates: number;
  readonly threshold: number;
  readonly eta: number;
  /** Last reported change squared, per parameter. */
  readonly #priority: Float64Array;
  readonly #visited: Uint8Array;
  /** Scheduled and not reported yet: their priority is stale, so the next round skips them. */
  readonly #inFlight: Uint8Array;
  #inFlightCount = 0;
  #visitedCount = 0;
  readonly #rng: Rng;
  /** 'random': a permutation whose prefix is shuffled afresh each round. 'cyclic': the next start. */
  readonly #perm: Uint32Array;
  #cursor = 0;

  constructor(options: ParamSchedulerOptions) {
    this.numParams = intAtLeast('numParams', options.numParams, 1);
    this.batch = Math.min(intAtLeast('batch', options.batch, 1), this.numParams);
    const policy = options.policy ?? 'dependency';
    if (policy !== 'dependency' && policy !== 'random' && policy !== 'cyclic') {
      throw invalidArgument('ParamScheduler', 'policy', "'dependency', 'random' or 'cyclic'", policy);
    }
    this.policy = policy;
    this.candidates = Math.min(intAtLeast('candidates', options.candidates ?? 2 * this.batch, 1), this.numParams);
    this.threshold = inRange('threshold', options.threshold ?? 0.1, 0, 1);
    this.eta = inRange('eta', options.eta ?? 0.05, 0, Number.MAX_VALUE);
    this.#priority = new Float64Array(this.numParams);
    this.#visited = new Uint8Array(this.numParams);
    this.#inFlight = new Uint8Array(this.numParams);
    this.#rng = new Rng(intAtLeast('seed', options.seed ?? 1, 0));
    this.#perm = Uint32Array.from({ length: this.numParams }, (_, i) => i);
  }

  /**
   * The parameters of the next round. 'dependency' needs `dependency` (the candidates'
   * correlations); without it the candidates are kept by priority alone.
   */
  async schedule(dependency?: DependencyCheck): Promise<Uint32Array> {
    if (this.policy === 'cyclic') return this.#cyclic();
    if (this.policy === 'random') return this.#random(this.batch);
    const candidates = this.#sampleByPriority(this.candidates);
    if (!dependency) return this.#mark(candidates.slice(0, this.batch));
    const corr = await dependency(candidates);
    const k = candidates.length;
    if (!(corr instanceof Float64Array) || corr.length !== k * k) {
      throw invalidArgument('ParamScheduler.schedule', 'dependency result', `a Float64Array of candidates^2 = ${k * k}`, corr, true);
    }
    // Greedy, highest priority first: a candidate joins if it is weakly coupled to all kept ones.
    const kept: number[] = [];
    for (let a = 0; a < k && kept.length < this.batch; a++) {
      let independent = true;
      for (const b of kept) {
        if (Math.abs(corr[a * k + b]!) > this.threshold) {
          independent = false;
          break;
        }
      }
      if (independent) kept.push(a);
    }
    return this.#mark(Uint32Array.from(kept, (a) => candidates[a]!));
  }

  #mark(params: Uint32Array): Uint32Array {
    for (const j of params) {
      if (!this.#inFlight[j]) this.#inFlightCount++;
      this.#inFlight[j] = 1;
    }
    return params;
  }

  /** How much each of `params` changed in the round that updated them (sets their priority). */
  report(params: Uint32Array, changes: ArrayLike<number>): void {
    if (changes.length !== params.length) throw invalidArgument('ParamScheduler.report', 'changes', `${params.length} values, one per parameter`, changes.length);
    for (let i = 0; i < params.length; i++) {
      const j = params[i]!;
      if (j >= this.numParams) throw invalidArgument('ParamScheduler.report', 'params', `ids below numParams = ${this.numParams}`, j);
      const c = changes[i]!;
      if (this.#inFlight[j]) this.#inFlightCount--;
      this.#inFlight[j] = 0;
      this.#priority[j] = Number.isFinite(c) ? c * c : Number.MAX_VALUE;
      if (!this.#visited[j]) {
        this.#visited[j] = 1;
        this.#visitedCount++;
      }
    }
  }

  #cyclic(): Uint32Array {
    const out = new Uint32Array(this.batch);
    for (let i = 0; i < this.batch; i++) out[i] = (this.#cursor + i) % this.numParams;
    this.#cursor = (this.#cursor + this.batch) % this.numParams;
    return out;
  }

  /** `count` distinct parameters, uniformly (a partial Fisher-Yates shuffle). */
  #random(count: number): Uint32Array {
    const p = this.#perm;
    for (let i = 0; i < count; i++) {
      const j = i + this.#rng.int(this.numParams - i);
      const t = p[i]!;
      p[i] = p[j]!;
      p[j] = t;
    }
    return p.slice(0, count);
  }

  /**
   * `count` distinct parameters drawn with probability ~ priority + floor (Efraimidis-Spirakis:
   * the smallest keys -log(u)/weight), highest weight first. Parameters never updated get the
   * largest priority seen, so every parameter is tried early. Parameters of the round in flight
   * are left out (pipelining: their new priority is not known yet).
   */
  #sampleByPriority(count: number): Uint32Array {
    const n = this.numParams;
    let sum = 0;
    let max = 0;
    for (let j = 0; j < n; j++) {
      if (!this.#visited[j]) continue;
      const p = this.#priority[j]!;
      sum += p;
      if (p > max) max = p;
    }
    const unvisited = max > 0 ? max : 1;
    const mean = this.#visitedCount > 0 ? sum / this.#visitedCount : 0;
    const floor = mean > 0 ? this.eta * mean : 1;
    // A max-heap of the `count` smallest keys seen so far.
    const heapKey = new Float64Array(count);
    const heapId = new Uint32Array(count);
    let size = 0;
    // With fewer than `count` others left (tiny models), in-flight parameters are drawn too.
    const skipInFlight = n - this.#inFlightCount >= count;
    for (let j = 0; j < n; j++) {
      if (skipInFlight && this.#inFlight[j]) continue;
      const weight = (this.#visited[j] ? this.#priority[j]! : unvisited) + floor;
      let u = this.#rng.next();
      while (u === 0) u = this.#rng.next();
      const key = -Math.log(u) / weight;
      if (size < count) {
        let i = size++;
        while (i > 0) {
          const parent = (i - 1) >> 1;
          if (heapKey[parent]! >= key) break;
          heapKey[i] = heapKey[parent]!;
          heapId[i] = heapId[parent]!;
          i = parent;
        }
        heapKey[i] = key;
        heapId[i] = j;
      } else if (key < heapKey[0]!) {
        let i = 0;
        for (;;) {
          const l = 2 * i + 1;
          if (l >= size) break;
          const c = l + 1 < size && heapKey[l + 1]! > heapKey[l]! ? l + 1 : l;
          if (heapKey[c]! <= key) break;
          heapKey[i] = heapKey[c]!;
          heapId[i] = heapId[c]!;
          i = c;
        }
        heapKey[i] = key;
        heapId[i] = j;
      }
    }
    const order = Array.from({ length: size }, (_, i) => i).sort((a, b) => heapKey[a]! - heapKey[b]! || heapId[a]! - heapId[b]!);
    return Uint32Array.from(order, (i) => heapId[i]!);
  }
}
