// The minibatch pipeline of the PS trainers (`--pipeline`, `--prefetch`), on lib/pipeline.ts:
// extract/dedupe the keys of step t+2, pull for t+1, compute t, push (and clock) t-1.
//
// Order on the wire. The client sends a worker's requests to each server on one connection
// in call order, and a server applies a connection's messages in order; so a pull sees every
// push this worker sent before it, and none sent after it, unless the server defers the pull
// (SSP: this worker is too far ahead), in which case later pushes can land first. Two rules
// keep what a pull answers exact:
// - A pull for step j is sent only once the clock of step j - 1 - lead has been sent (`lead`
//   0: the order of the sequential loop, any staleness; `lead` L > 0 (--prefetch): the pull goes
//   out L clocks early, so the tables' bound is lowered by L, prefetchStaleness below).
// - With `exclusive` (FTRL, which adds back exactly the deltas an answer misses), no push is
//   sent while a pull is in flight: a deferred pull cannot see a later push.
// A push and the clock after it are sent back to back without waiting for the push's answer:
// the server applies the push before it learns of the clock (same connection). Up to
// PUSHES_IN_FLIGHT steps' pushes await their answers at once (a push is acknowledged once its
// replica applied it too: a round trip more than a pull), so the next step's pull, which
// waits only for the clock to be sent, does not wait for that acknowledgement either. A step
// that sends only its clock (--ps-cache: every step of a window but its last) does not wait for
// the clock's answer at all: it is awaited with the next push, or at the end (drain), so such
// steps run at compute speed; at most a window's clocks are unanswered at once.
// Worker recovery and server failover re-send requests out of this order: the trainers refuse
// --pipeline with --max-restarts / --checkpoint / --resume.
import { usageError } from '../../lib/cli_flags.js';
import { Pipeline, range, type StageStats } from '../../lib/pipeline.js';

/** The table bound that keeps a pull issued `lead` clocks early within `staleness` (Infinity: ASP). */
export function prefetchStaleness(command: string, staleness: number, lead: number): number {
  if (staleness === Infinity || lead === 0) return staleness;
  if (staleness < lead) {
    throw usageError(command, `--prefetch pulls ${lead} clock(s) ahead, which --staleness ${staleness} does not allow (needs 'asp' or >= ${lead}; --pipeline keeps the pull after the clock and works with any bound)`);
  }
  return staleness - lead;
}

/**
 * The SSP bounds a run uses: with --prefetch the tables' staleness and the client cache's bound
 * are both lowered by the pull lead (validated, a UsageError naming the flag otherwise).
 */
export function pipelineBounds(command: string, p: { prefetch: boolean; staleness: number; psCache?: number }, lead: number): { staleness: number; psCache?: number } {
  if (!p.prefetch) return { staleness: p.staleness, ...(p.psCache !== undefined ? { psCache: p.psCache } : {}) };
  const staleness = prefetchStaleness(command, p.staleness, lead);
  if (p.psCache === undefined) return { staleness };
  if (p.psCache < lead) throw usageError(command, `--prefetch pulls ${lead} clock(s) ahead, which --ps-cache ${p.psCache} does not allow (needs >= ${lead}; or use --pipeline)`);
  return { staleness, psCache: p.psCache - lead };
}

/** Which requests may go out now (see the header). */
export class PsRequestOrder {
  #clocksSent = 0;
  #pullsInFlight = 0;
  #waiters: Array<() => void> = [];
  /** Answers of clock-only steps, awaited with the next push or by drain(). */
  #unanswered: Array<Promise<unknown>> = [];
  /** Time pulls waited for an earlier clock, pushes for a pull in flight (ms). */
  pullWaitMs = 0;
  pushWaitMs = 0;

  /** Clocks sent so far in this run (one per step). */
  get clocksSent(): number {
    return this.#clocksSent;
  }

  /** Runs `pull` once `clocks` clocks have been sent; counts it in flight until it settles. */
  async pull<T>(clocks: number, pull: () => Promise<T>): Promise<T> {
    const t0 = performance.now();
    while (this.#clocksSent < clocks) await this.#wait();
    this.pullWaitMs += performance.now() - t0;
    this.#pullsInFlight++;
    try {
      return await pull();
    } finally {
      this.#pullsInFlight--;
      this.#wake();
    }
  }

  /**
   * Sends one step's push and clock: `send` must issue its requests synchronously (in wire
   * order) and return their Promises, the clock's last. `exclusive`: first wait until no pull
   * is in flight. A step that sent only its clock resolves at once (see the header).
   */
  async pushAndClock(exclusive: boolean, send: () => Array<Promise<unknown>>): Promise<void> {
    const t0 = performance.now();
    while (exclusive && this.#pullsInFlight > 0) await this.#wait();
    this.pushWaitMs += performance.now() - t0;
    const sent = send();
    this.#clocksSent++;
    this.#wake();
    if (sent.length === 1) {
      // Marked handled now; a failure still surfaces where it is awaited.
      sent[0]!.catch(() => undefined);
      this.#unanswered.push(sent[0]!);
      return;
    }
    await Promise.all([...this.#unanswered.splice(0), ...sent]);
  }

  /** Waits for the answers of clock-only steps not awaited yet (their failure, if any). */
  async drain(): Promise<void> {
    await Promise.all(this.#unanswered.splice(0));
  }

  #wait(): Promise<void> {
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }
}

/** The four stages of one step; each gets the previous one's result. */
export interface StepStages<K, P, C> {
  /** Rows of the step and the distinct keys to pull (CPU only, runs two steps ahead). */
  keys(step: number): K;
  /** Pulls the keys (through PsRequestOrder.pull); a step without a request answers synchronously (no Promise to settle). */
  pull(k: K): P | Promise<P>;
  /**
   * Applies the answer and computes the step (in step order, one at a time). A Promise only to
   * stand for slow compute (the straggler benchmarks' sleep): pushes overlap, so a sleep there
   * would not slow the steps down.
   */
  compute(p: P): C | Promise<C>;
  /** Pushes and clocks (through PsRequestOrder.pushAndClock). */
  push(c: C): Promise<void>;
}

/**
 * Busy / waiting milliseconds per stage, summed over the epochs (metrics.json). A stage's busy
 * time includes its PsRequestOrder wait, reported apart as `order_wait_ms` of pull and push.
 */
export type PipelineTimes = Record<string, { busy_ms: number; wait_in_ms: number; wait_out_ms: number; items: number; order_wait_ms?: number }>;

/** Requests and keys a worker sent to the parameter servers (metrics.json `traffic`, per row there). */
export interface PsTraffic {
  pullRequests: number;
  keysPulled: number;
  pushRequests: number;
  keysPushed: number;
}

/** Steps whose push (and clock) may await the servers' answer at once; they are sent in step order. */
export const PUSHES_IN_FLIGHT = 2;

/** Runs steps [first, steps) through the stages; adds each stage's times to `times`. */
export async function runStepPipeline<K, P, C>(name: string, first: number, steps: number, s: StepStages<K, P, C>, order: PsRequestOrder, times: PipelineTimes): Promise<void> {
  const p = Pipeline.from(range(first, steps), { name, depth: 0 })
    .stage('keys', (step) => s.keys(step), { depth: 2 })
    .stage('pull', (k) => s.pull(k), { depth: 0 })
    .stage('compute', (x) => s.compute(x), { depth: 0 })
    .stage('push', (c) => s.push(c), { depth: 0, concurrency: PUSHES_IN_FLIGHT });
  try {
    for await (const _ of p) void _;
    await order.drain();
  } finally {
    addTimes(times, p.stats());
    times['pull']!.order_wait_ms = Math.round(order.pullWaitMs);
    times['push']!.order_wait_ms = Math.round(order.pushWaitMs);
  }
}

function addTimes(times: PipelineTimes, stats: StageStats[]): void {
  for (const st of stats) {
    if (st.name === 'source') continue;
    const t = (times[st.name] ??= { busy_ms: 0, wait_in_ms: 0, wait_out_ms: 0, items: 0 });
    t.busy_ms = Math.round(t.busy_ms + st.busyMs);
    t.wait_in_ms = Math.round(t.wait_in_ms + st.waitInMs);
    t.wait_out_ms = Math.round(t.wait_out_ms + st.waitOutMs);
    t.items += st.delivered;
  }
}
