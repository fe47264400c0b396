// A staged pipeline (KunPeng's overlapped DAG, as a chain): items from a source flow through
// named stages connected by bounded queues, so e.g. the keys of batch t+2 are extracted while
// batch t+1 is pulled, batch t computed and batch t-1 pushed. Each stage runs up to
// `concurrency` calls at once and hands results on in source order; a stage whose output queue
// is full stops taking input (back-pressure), so at most sum(concurrency + depth) items sit
// between the source and the consumer. A failing stage fails the whole pipeline with its name
// and the item's index, after every call already started has settled (nothing keeps running
// behind the caller's back); so does cancel(). docs/pipeline.md.
export interface StageOptions {
  /** Results this stage may hold in its output queue (0: handed straight to the next stage). Default 1. */
  depth?: number;
  /** Calls of this stage running at once (results still delivered in order). Default 1. */
  concurrency?: number;
}

/** What a stage function gets besides its item. */
export interface StageContext {
  /** Position of the item in the source (0-based). */
  index: number;
  /** Aborted when the pipeline fails or is cancelled: long calls may stop early. */
  signal: AbortSignal;
}

export type StageFn<I, O> = (item: I, ctx: StageContext) => O | Promise<O>;

/** Progress of one stage (or the source: name 'source', or the consumer: name 'consumer'). */
export interface StageStats {
  name: string;
  /** Items started / handed on. */
  started: number;
  delivered: number;
  /** Calls running now, results in the output queue now. */
  running: number;
  queued: number;
  /** Time with calls of this stage running (summed per call), waiting for input while idle, blocked on a full output queue. */
  busyMs: number;
  waitInMs: number;
  waitOutMs: number;
}

/** A stage (or the source) threw: the pipeline stopped. `cause` is the original error. */
export class PipelineError extends Error {
  readonly stage: string;
  readonly index: number;
  constructor(pipeline: string, stage: string, index: number, cause: unknown) {
    const why = cause instanceof Error ? cause.message : String(cause);
    super(`pipeline '${pipeline}': stage '${stage}' failed on item ${index}: ${why}`, { cause });
    this.name = 'PipelineError';
    this.stage = stage;
    this.index = index;
  }
}

/** cancel() was called while the consumer was still reading. */
export class PipelineCancelledError extends Error {
  constructor(pipeline: string, reason: string) {
    super(`pipeline '${pipeline}' cancelled: ${reason}`);
    this.name = 'PipelineCancelledError';
  }
}

interface Item {
  index: number;
  value: unknown;
}
const DONE: unique symbol = Symbol('done');
type Step = { took: Item | typeof DONE } | { head: true };

/** A FIFO of at most `capacity` items; capacity 0 hands an item over only when a taker waits. */
class BoundedQueue {
  readonly #items: Item[] = [];
  readonly #takers: Array<(v: Item | typeof DONE) => void> = [];
  readonly #putters: Array<{ item: Item; accepted: (ok: boolean) => void }> = [];
  #closed = false;

  constructor(readonly capacity: number) {}

  get length(): number {
    return this.#items.length;
  }

  /** Resolves true once the item is accepted, false if the queue was shut first. */
  put(item: Item): Promise<boolean> {
    if (this.#closed) return Promise.resolve(false);
    const taker = this.#takers.shift();
    if (taker) {
      taker(item);
      return Promise.resolve(true);
    }
    if (this.#items.length < this.capacity) {
      this.#items.push(item);
      return Promise.resolve(true);
    }
    return new Promise((accepted) => this.#putters.push({ item, accepted }));
  }

  take(): Promise<Item | typeof DONE> {
    const head = this.#items.shift();
    if (head) {
      this.#admitPutter();
      return Promise.resolve(head);
    }
    const putter = this.#putters.shift();
    if (putter) {
      putter.accepted(true);
      return Promise.resolve(putter.item);
    }
    if (this.#closed) return Promise.resolve(DONE);
    return new Promise((resolve) => this.#takers.push(resolve));
  }

  #admitPutter(): void {
    const p = this.#putters.shift();
    if (!p) return;
    this.#items.push(p.item);
    p.accepted(true);
  }

  /** No more puts: takers get the items left, then DONE. */
  close(): void {
    this.#closed = true;
    for (const t of this.#takers.splice(0)) t(DONE);
  }

  /** Stop now: items are dropped, blocked puts and takes return. */
  shut(): void {
    this.#closed = true;
    this.#items.length = 0;
    for (const p of this.#putters.splice(0)) p.accepted(false);
    for (const t of this.#takers.splice(0)) t(DONE);
  }
}

interface StageSpec {
  name: string;
  fn: StageFn<unknown, unknown>;
  depth: number;
  concurrency: number;
}

function newStats(name: string): StageStats {
  return { name, started: 0, delivered: 0, running: 0, queued: 0, busyMs: 0, waitInMs: 0, waitOutMs: 0 };
}

function checkCount(where: string, what: string, v: unknown, min: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > 1 << 20) {
    throw new RangeError(`${where}: ${what} must be an integer in [${min}, ${1 << 20}], got ${String(v)}`);
  }
  return v;
}

/**
 * Build with Pipeline.from(source).stage(...).stage(...), then read the last stage's results
 * with `for await`. Work starts on the first read; breaking out of the loop cancels the rest.
 * @example
 *   const p = Pipeline.from(range(steps), { name: 'train' })
 *     .stage('keys', (t) => extractKeys(t), { depth: 2 })
 *     .stage('pull', (b) => table.pull(b.keys).then((rows) => ({ ...b, rows })), { depth: 0 })
 *     .stage('compute', (b) => gradients(b))
 *     .stage('push', (g) => table.push(g.keys, g.values), { depth: 0 });
 *   for await (const _ of p) pacer.tick();
 *   console.log(p.stats());
 */
export class Pipeline<T> implements AsyncIterable<T> {
  readonly name: string;
  readonly #source: Iterable<unknown> | AsyncIterable<unknown>;
  readonly #sourceDepth: number;
  readonly #stages: StageSpec[] = [];
  readonly #abort = new AbortController();
  #queues: BoundedQueue[] = [];
  #stats: StageStats[] = [];
  #consumer = newStats('consumer');
  #started = false;
  #error: PipelineError | null = null;
  #cancelled: string | null = null;
  /** #abort.signal.aborted, as a plain field: read once per item per stage (the getter costs more). */
  #stopped = false;
  #settled: Promise<void> = Promise.resolve();

  private constructor(source: Iterable<unknown> | AsyncIterable<unknown>, name: string, sourceDepth: number) {
    this.#source = source;
    this.name = name;
    this.#sourceDepth = sourceDepth;
  }

  /** A pipeline reading `source` (sync or async iterable); `depth`: source items queued ahead of the first stage (default 1). */
  static from<I>(source: Iterable<I> | AsyncIterable<I>, options: { name?: string; depth?: number } = {}): Pipeline<I> {
    const ok = source !== null && typeof source === 'object' && (Symbol.iterator in source || Symbol.asyncIterator in source);
    if (!ok) throw new TypeError(`Pipeline.from: source must be an iterable or async iterable, got ${typeof source}`);
    return new Pipeline<I>(source, options.name ?? 'pipeline', checkCount('Pipeline.from', 'depth', options.depth ?? 1, 0));
  }

  /** Appends a stage; returns the same pipeline, typed by the stage's result. */
  stage<O>(name: string, fn: StageFn<T, O>, options: StageOptions = {}): Pipeline<Awaited<O>> {
    const where = `pipeline '${this.name}' stage '${String(name)}'`;
    if (this.#started) throw new Error(`${where}: the pipeline is already running`);
    if (typeof name !== 'string' || name === '') throw new TypeError(`pipeline '${this.name}': a stage name must be a non-empty string`);
    if (this.#stages.some((s) => s.name === name)) throw new RangeError(`${where}: the name is taken`);
    if (typeof fn !== 'function') throw new TypeError(`${where}: fn must be a function`);
    this.#stages.push({
      name,
      fn: fn as StageFn<unknown, unknown>,
      depth: checkCount(where, 'depth', options.depth ?? 1, 0),
      concurrency: checkCount(where, 'concurrency', options.concurrency ?? 1, 1),
    });
    return this as unknown as Pipeline<Awaited<O>>;
  }

  /** Most items that can sit between the source and the consumer (taken from the source, not yet read). */
  get bound(): number {
    // The source holds the item it is putting; a stage holds its calls (running, or the head
    // waiting to be put), and each queue its depth.
    return 1 + this.#sourceDepth + this.#stages.reduce((n, s) => n + s.concurrency + s.depth, 0);
  }

  /** Counters of the source, every stage and the consumer (a copy). */
  stats(): StageStats[] {
    const all = this.#stats.length > 0 ? this.#stats : [newStats('source'), ...this.#stages.map((s) => newStats(s.name))];
    return [...all.map((s, i) => ({ ...s, queued: this.#queues[i]?.length ?? 0 })), { ...this.#consumer }];
  }

  /** Stops the pipeline; resolves once every call already started has settled. */
  async cancel(reason = 'cancelled'): Promise<void> {
    if (!this.#error && this.#cancelled === null) this.#cancelled = reason;
    this.#stop(reason);
    await this.#settled;
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    if (this.#started) throw new Error(`pipeline '${this.name}' can be read once`);
    this.#start();
    const last = this.#queues[this.#queues.length - 1]!;
    const c = this.#consumer;
    return {
      next: async (): Promise<IteratorResult<T>> => {
        const t0 = performance.now();
        const got = this.#error || this.#cancelled !== null ? DONE : await last.take();
        c.waitInMs += performance.now() - t0;
        if (got === DONE) {
          await this.#settled;
          if (this.#error) throw this.#error;
          if (this.#cancelled !== null) throw new PipelineCancelledError(this.name, this.#cancelled);
          return { done: true, value: undefined };
        }
        c.started++;
        c.delivered++;
        return { done: false, value: got.value as T };
      },
      return: async (): Promise<IteratorResult<T>> => {
        // The consumer left the loop (break, or an exception in its body): stop quietly.
        this.#stop('the consumer stopped reading');
        await this.#settled;
        return { done: true, value: undefined };
      },
    };
  }

  #start(): void {
    this.#started = true;
    this.#stats = [newStats('source'), ...this.#stages.map((s) => newStats(s.name))];
    this.#queues = [new BoundedQueue(this.#sourceDepth), ...this.#stages.map((s) => new BoundedQueue(s.depth))];
    const loops = [this.#runSource(), ...this.#stages.map((s, i) => this.#runStage(s, this.#stats[i + 1]!, this.#queues[i]!, this.#queues[i + 1]!))];
    this.#settled = Promise.all(loops).then(() => undefined);
  }

  #fail(stage: string, index: number, err: unknown): void {
    if (!this.#error && this.#cancelled === null) this.#error = new PipelineError(this.name, stage, index, err);
    this.#stop(this.#error?.message ?? 'failed');
  }

  #stop(reason: string): void {
    if (!this.#stopped) {
      this.#stopped = true;
      this.#abort.abort(new Error(reason));
    }
    for (const q of this.#queues) q.shut();
  }

  async #runSource(): Promise<void> {
    const st = this.#stats[0]!;
    const out = this.#queues[0]!;
    const src = this.#source as Partial<AsyncIterable<unknown> & Iterable<unknown>>;
    let it: Iterator<unknown> | AsyncIterator<unknown> | null = null;
    let index = 0;
    try {
      it = src[Symbol.asyncIterator] ? src[Symbol.asyncIterator]!() : src[Symbol.iterator]!();
      while (!this.#stopped) {
        const t0 = performance.now();
        const r = await it.next();
        st.busyMs += performance.now() - t0;
        if (r.done || this.#stopped) break;
        st.started++;
        const t1 = performance.now();
        const ok = await out.put({ index, value: r.value });
        st.waitOutMs += performance.now() - t1;
        if (!ok) break;
        st.delivered++;
        index++;
      }
      out.close();
    } catch (err) {
      this.#fail('source', index, err);
    } finally {
      // Stopped early: let the source release what it holds (an async generator's finally).
      if (this.#stopped) await Promise.resolve(it?.return?.()).catch(() => undefined);
    }
  }

  /**
   * A stage of concurrency 1 (every stage of the PS trainers' step pipeline): take, call, hand
   * on, with no race between input and running calls and no result wrappers per item.
   */
  async #runSerialStage(spec: StageSpec, st: StageStats, input: BoundedQueue, output: BoundedQueue): Promise<void> {
    const signal = this.#abort.signal;
    while (!this.#stopped) {
      const t0 = performance.now();
      const item = await input.take();
      const t1 = performance.now();
      st.waitInMs += t1 - t0;
      if (item === DONE) {
        output.close();
        return;
      }
      if (this.#stopped) return;
      st.started++;
      st.running++;
      let value: unknown;
      try {
        value = spec.fn(item.value, { index: item.index, signal });
        if (value instanceof Promise) value = await value;
      } catch (err) {
        this.#fail(spec.name, item.index, err);
        return;
      } finally {
        st.running--;
        st.busyMs += performance.now() - t1;
      }
      const t2 = performance.now();
      const ok = await output.put({ index: item.index, value });
      st.waitOutMs += performance.now() - t2;
      if (!ok) return;
      st.delivered++;
    }
  }

  async #runStage(spec: StageSpec, st: StageStats, input: BoundedQueue, output: BoundedQueue): Promise<void> {
    if (spec.concurrency === 1) return this.#runSerialStage(spec, st, input, output);
    type Call = { index: number; result: Promise<{ ok: true; value: unknown } | { ok: false; err: unknown }> };
    const running: Call[] = [];
    let take: Promise<Item | typeof DONE> | null = null;
    let inputDone = false;
    const signal = this.#abort.signal;
    const begin = (item: Item): void => {
      st.started++;
      st.running++;
      const t0 = performance.now();
      const settle = (r: { ok: true; value: unknown } | { ok: false; err: unknown }) => {
        st.busyMs += performance.now() - t0;
        st.running--;
        return r;
      };
      let result: Call['result'];
      try {
        const v = spec.fn(item.value, { index: item.index, signal });
        result = v instanceof Promise ? v.then((value) => settle({ ok: true, value }), (err: unknown) => settle({ ok: false, err })) : Promise.resolve(settle({ ok: true, value: v }));
      } catch (err) {
        result = Promise.resolve(settle({ ok: false, err }));
      }
      running.push({ index: item.index, result });
    };
    try {
      while (!this.#stopped) {
        if (inputDone && running.length === 0) {
          output.close();
          return;
        }
        const canTake = !inputDone && running.length < spec.concurrency;
        if (canTake && take === null) take = input.take();
        const t0 = performance.now();
        const waits: Array<Promise<Step>> = [];
        if (canTake) waits.push(take!.then((took): Step => ({ took })));
        if (running.length > 0) waits.push(running[0]!.result.then((): Step => ({ head: true })));
        const next = await Promise.race(waits);
        if (running.length === 0) st.waitInMs += performance.now() - t0;
        if (this.#stopped) break;
        if ('took' in next) {
          take = null;
          if (next.took === DONE) inputDone = true;
          else begin(next.took);
          continue;
        }
        const head = running.shift()!;
        const r = await head.result;
        if (!r.ok) {
          this.#fail(spec.name, head.index, r.err);
          break;
        }
        const t1 = performance.now();
        const ok = await output.put({ index: head.index, value: r.value });
        st.waitOutMs += performance.now() - t1;
        if (!ok) break;
        st.delivered++;
      }
    } finally {
      // Stopped: wait for the calls already started, so no work outlives the pipeline.
      await Promise.all(running.map((c) => c.result));
    }
  }
}

/** 0, 1, ..., n - 1 (a source of step numbers). */
export function* range(from: number, to?: number): Generator<number> {
  const [lo, hi] = to === undefined ? [0, from] : [from, to];
  for (let i = lo; i < hi; i++) yield i;
}
