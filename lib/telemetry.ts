// What a rank tells the coordinator about itself every second: the op it is in right now,
// counters (ops, bytes, time in collectives and in parameter-server calls), the values the
// algorithm reported (comm.report) and the collectives it finished since the last message.
// One Telemetry per process, shared by every communicator and the PS client.

export interface OpRecord {
  op: string;
  group: string;
  seq: number;
  bytes: number;
  start: number; // ms since epoch, fractional (preciseNow)
  end: number;
  ok: boolean;
}

export interface ReportPoint {
  t: number;
  values: Record<string, number>;
}

export interface CurrentOp {
  op: string;
  group: string;
  seq: number;
  since: number;
}

/** The `metrics` message payload (see lib/coordinator_protocol.ts). */
export interface MetricsSnapshot {
  startedAt: number;
  now: number;
  current: CurrentOp | null;
  /** Last sequence number finished per communicator group. */
  lastSeq: Record<string, number>;
  ops: Record<string, number>;
  bytes: number;
  collectiveSeconds: number;
  psSeconds: number;
  psCalls: number;
  psKeys: number;
  /** Start (ms since the epoch) of the oldest parameter-server call still in flight; null when none is. */
  psWaitingSince?: number | null;
  reports: ReportPoint[];
  timeline: OpRecord[];
  server?: unknown;
}

const MAX_PENDING = 1000;

/**
 * Wall-clock ms with sub-ms precision, for op start/end: the Chrome trace is in µs and most
 * collectives take well under a millisecond, so Date.now() would round them all to 0 or 1 ms.
 */
export function preciseNow(): number {
  return performance.timeOrigin + performance.now();
}

export class Telemetry {
  readonly startedAt = Date.now();
  #current: CurrentOp | null = null;
  #lastSeq: Record<string, number> = {};
  #ops: Record<string, number> = {};
  #bytes = 0;
  #collectiveMs = 0;
  #psMs = 0;
  #psCalls = 0;
  #psKeys = 0;
  /** Start times of the parameter-server calls in flight (a pipeline overlaps several). */
  #psInFlight = new Set<{ start: number }>();
  #reports: ReportPoint[] = [];
  #timeline: OpRecord[] = [];

  /** A collective was submitted at `start` (preciseNow()); returns a function to call when it settles. */
  collective(op: string, group: string, seq: number, bytes: number, start = preciseNow()): (ok: boolean) => void {
    this.#current = { op, group, seq, since: Date.now() };
    return (ok) => {
      const end = preciseNow();
      if (this.#current?.seq === seq && this.#current.group === group) this.#current = null;
      this.#lastSeq[group] = seq;
      this.#ops[op] = (this.#ops[op] ?? 0) + 1;
      this.#bytes += bytes;
      this.#collectiveMs += end - start;
      if (this.#timeline.length < MAX_PENDING) this.#timeline.push({ op, group, seq, bytes, start, end, ok });
    };
  }

  /** A parameter-server call started; returns a function to call when it settles. */
  psCall(keys: number): () => void {
    const call = { start: Date.now() };
    this.#psInFlight.add(call);
    return () => {
      if (!this.#psInFlight.delete(call)) return;  // settled once only
      this.#psMs += Date.now() - call.start;
      this.#psCalls++;
      this.#psKeys += keys;
    };
  }

  report(values: Record<string, number>): void {
    if (this.#reports.length < MAX_PENDING) this.#reports.push({ t: Date.now(), values });
  }

  /** Everything since the last snapshot (reports and timeline are handed over once). */
  snapshot(): MetricsSnapshot {
    const s: MetricsSnapshot = {
      startedAt: this.startedAt,
      now: Date.now(),
      current: this.#current,
      lastSeq: { ...this.#lastSeq },
      ops: { ...this.#ops },
      bytes: this.#bytes,
      collectiveSeconds: this.#collectiveMs / 1000,
      psSeconds: this.#psMs / 1000,
      psCalls: this.#psCalls,
      psKeys: this.#psKeys,
      psWaitingSince: this.#psInFlight.size ? Math.min(...[...this.#psInFlight].map((c) => c.start)) : null,
      reports: this.#reports,
      timeline: this.#timeline,
    };
    this.#reports = [];
    this.#timeline = [];
    return s;
  }
}

/** The process-wide instance. */
export const telemetry = new Telemetry();
