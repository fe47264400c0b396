// The coordinator's picture of a running job, built from the metrics every process sends
// with its heartbeat (lib/telemetry.ts): who is alive and in which op, where time goes
// (compute vs collectives vs parameter-server calls), the training curve the algorithms
// report, per-server tables, and the last collectives of each rank as a timeline.
import type { MetricsSnapshot, OpRecord } from '../telemetry.js';
import { AXIS_KEYS, SeriesStore, type SeriesData } from './series_store.js';

export type Role = 'worker' | 'server';

export interface ServerStats {
  rank?: number;
  pid?: number;
  tables?: Array<{ name: string; keys: number; memoryBytes: number }>;
  keys?: number;
  memoryBytes?: number;
  pulls?: number;
  pushes?: number;
  keysPulled?: number;
  keysPushed?: number;
  minClock?: number;
  maxClock?: number;
  replicating?: boolean;
}

export interface ProcessView {
  role: Role;
  rank: number;
  host: string;
  pid: number;
  alive: boolean;
  lostReason: string | null;
  lastHeartbeatMs: number;
  metrics: MetricsSnapshot | null;
  /** When (coordinator clock) the latest metrics arrived. */
  metricsAtMs: number;
  /** When (coordinator clock) metrics first showed the process in its current op; null when in none. */
  currentSinceMs: number | null;
  server: ServerStats | null;
  /** Keys/s and pushes/s from the last two server samples. */
  rates: { pullsPerSec: number; pushesPerSec: number; keysPerSec: number };
}

const TIMELINE_PER_RANK = 200;
/** Names of the rate series the coordinator derives from the counters (not reported by the algorithm). */
export const COLLECTIVE_RATE = 'collective GB/s';
export const PS_KEY_RATE = 'PS keys/s';

/** How far the training is: the furthest iteration any worker reported, out of the planned ones. */
export interface Progress {
  iteration: number | null;
  /** `planned` as the trainer reported it (max-iter, rounds, epochs); null when it did not. */
  planned: number | null;
  /** Seconds left at the rate since the first reported iteration; null without a plan or a rate. */
  etaSeconds: number | null;
}

export interface JobDump {
  state: object;
  stalls: string[];
  series: SeriesData[];
}

export class JobView {
  readonly startedAt = Date.now();
  readonly processes = new Map<string, ProcessView>();
  /** Every reported value and derived rate over the whole job, downsampled (series_store.ts). */
  readonly series = new SeriesStore();
  /** The latest value of each reported name, per worker rank. */
  readonly latest = new Map<number, Record<string, number>>();
  #planned: number | null = null;
  /** The first report that carried an iteration (coordinator clock ms): the ETA's rate starts there. */
  #firstIteration: { iteration: number; atMs: number } | null = null;
  #maxIteration: number | null = null;
  readonly timelines = new Map<number, OpRecord[]>();
  stalls: string[] = [];
  /** The job's epoch (moves on with every lost worker; coordinator.ts). */
  epoch = 0;
  /** What the coordinator logged: losses, epochs, replacements, stragglers, membership changes. */
  readonly events: Array<{ t: number; text: string }> = [];

  event(text: string): void {
    this.events.push({ t: Date.now(), text });
    if (this.events.length > 200) this.events.splice(0, this.events.length - 200);
  }

  static key(role: Role, rank: number): string {
    return `${role}:${rank}`;
  }

  joined(role: Role, rank: number, host: string, pid: number): void {
    this.processes.set(JobView.key(role, rank), {
      role,
      rank,
      host,
      pid,
      alive: true,
      lostReason: null,
      lastHeartbeatMs: Date.now(),
      metrics: null,
      metricsAtMs: 0,
      currentSinceMs: null,
      server: null,
      rates: { pullsPerSec: 0, pushesPerSec: 0, keysPerSec: 0 },
    });
  }

  heartbeat(role: Role, rank: number): void {
    const p = this.processes.get(JobView.key(role, rank));
    if (p) p.lastHeartbeatMs = Date.now();
  }

  lost(role: Role, rank: number, reason: string): void {
    const p = this.processes.get(JobView.key(role, rank));
    if (p) {
      p.alive = false;
      p.lostReason = reason;
    }
  }

  left(role: Role, rank: number): void {
    const p = this.processes.get(JobView.key(role, rank));
    if (p) p.alive = false;
  }

  /** A metrics message arrived (untrusted shape: every field is checked). */
  update(role: Role, rank: number, data: unknown): void {
    const p = this.processes.get(JobView.key(role, rank));
    if (!p || typeof data !== 'object' || data === null) return;
    p.lastHeartbeatMs = Date.now();
    const m = data as Partial<MetricsSnapshot> & { server?: ServerStats };
    // A stats message with counters below the last ones comes from a server shutting down (its
    // tables gone): keep the last real numbers. (A replacement process starts with p.server null.)
    const counters = (v: ServerStats) => [v.pulls ?? 0, v.pushes ?? 0, (v.keysPulled ?? 0) + (v.keysPushed ?? 0)];
    if (m.server && typeof m.server === 'object' && !(p.server && counters(m.server).some((c, i) => c < counters(p.server!)[i]!))) {
      const prev = p.server;
      const dt = p.metrics && typeof m.now === 'number' ? (m.now - p.metrics.now) / 1000 : 0;
      if (prev && dt > 0) {
        const [pulls, pushes, keys] = counters(m.server).map((c, i) => (c - counters(prev)[i]!) / dt) as [number, number, number];
        p.rates = { pullsPerSec: pulls, pushesPerSec: pushes, keysPerSec: keys };
        const seconds = (Date.now() - this.startedAt) / 1000;
        this.series.add(PS_KEY_RATE, 'server', rank, 'seconds', seconds, keys, seconds);
      }
      p.server = m.server;
    }
    if (Array.isArray(m.reports) && role === 'worker') for (const r of m.reports.slice(0, 1000)) this.#addReport(rank, r);
    if (role === 'worker') this.#addRates(rank, p.metrics, m);
    if (Array.isArray(m.timeline) && role === 'worker') {
      const list = this.timelines.get(rank) ?? [];
      for (const e of m.timeline.slice(0, 1000)) if (e && typeof e.start === 'number' && typeof e.end === 'number') list.push(e);
      if (list.length > TIMELINE_PER_RANK) list.splice(0, list.length - TIMELINE_PER_RANK);
      this.timelines.set(rank, list);
    }
    const current = m.current && typeof m.current === 'object' ? m.current : null;
    const opKey = (c: MetricsSnapshot['current'] | undefined): string | null => (c ? `${c.op}/${c.group}/${c.seq}` : null);
    if (opKey(current) !== opKey(p.metrics?.current)) p.currentSinceMs = current ? Date.now() : null;
    p.metricsAtMs = Date.now();
    p.metrics = {
      startedAt: num(m.startedAt, this.startedAt),
      now: num(m.now, Date.now()),
      current,
      lastSeq: m.lastSeq && typeof m.lastSeq === 'object' ? m.lastSeq : {},
      ops: m.ops && typeof m.ops === 'object' ? m.ops : {},
      bytes: num(m.bytes, 0),
      collectiveSeconds: num(m.collectiveSeconds, 0),
      psSeconds: num(m.psSeconds, 0),
      psCalls: num(m.psCalls, 0),
      psKeys: num(m.psKeys, 0),
      psWaitingSince: typeof m.psWaitingSince === 'number' && Number.isFinite(m.psWaitingSince) ? m.psWaitingSince : null,
      reports: [],
      timeline: [],
    };
  }

  /** One `comm.report` of a worker: its values become points of their series, x its iteration (else seconds). */
  #addReport(rank: number, r: unknown): void {
    const point = r as { t?: unknown; values?: unknown } | null;
    if (!point || typeof point.t !== 'number' || !point.values || typeof point.values !== 'object') return;
    const values: Record<string, number> = {};
    for (const [k, v] of Object.entries(point.values as Record<string, unknown>)) if (typeof v === 'number' && Number.isFinite(v)) values[k] = v;
    this.latest.set(rank, { ...this.latest.get(rank), ...values });
    const seconds = (point.t - this.startedAt) / 1000;
    const iteration = values['iteration'] ?? values['epoch'];
    if (values['planned'] !== undefined && values['planned'] > 0) this.#planned = values['planned'];
    if (iteration !== undefined) {
      if (this.#firstIteration === null) this.#firstIteration = { iteration, atMs: Date.now() };
      this.#maxIteration = Math.max(this.#maxIteration ?? iteration, iteration);
    }
    for (const [k, v] of Object.entries(values)) {
      if (!AXIS_KEYS.has(k)) this.series.add(k, 'worker', rank, iteration === undefined ? 'seconds' : 'iteration', iteration ?? seconds, v, seconds);
    }
  }

  /** Collective GB/s and PS keys/s of a worker between its last two metrics messages (its own clock). */
  #addRates(rank: number, prev: MetricsSnapshot | null, m: Partial<MetricsSnapshot>): void {
    if (!prev || typeof m.now !== 'number' || typeof m.bytes !== 'number' || typeof m.psKeys !== 'number') return;
    const dt = (m.now - prev.now) / 1000;
    // A replacement process starts its counters at 0: no rate across the swap.
    if (!(dt > 0) || m.bytes < prev.bytes || m.psKeys < prev.psKeys) return;
    const seconds = (m.now - this.startedAt) / 1000;
    this.series.add(COLLECTIVE_RATE, 'worker', rank, 'seconds', seconds, (m.bytes - prev.bytes) / dt / 1e9, seconds);
    if (m.psKeys > 0) this.series.add(PS_KEY_RATE, 'worker', rank, 'seconds', seconds, (m.psKeys - prev.psKeys) / dt, seconds);
  }

  progress(now = Date.now()): Progress {
    const iteration = this.#maxIteration;
    const planned = this.#planned;
    let etaSeconds: number | null = null;
    const first = this.#firstIteration;
    if (planned !== null && iteration !== null && first !== null && iteration > first.iteration) {
      etaSeconds = (Math.max(0, planned - iteration) * (now - first.atMs)) / 1000 / (iteration - first.iteration);
    }
    return { iteration, planned, etaSeconds };
  }

  workers(): ProcessView[] {
    return [...this.processes.values()].filter((p) => p.role === 'worker').sort((a, b) => a.rank - b.rank);
  }

  servers(): ProcessView[] {
    return [...this.processes.values()].filter((p) => p.role === 'server').sort((a, b) => a.rank - b.rank);
  }

  /** State for the dashboard feed and /api/state. */
  state(): object {
    const now = Date.now();
    const describe = (p: ProcessView) => {
      const m = p.metrics;
      const wall = m ? Math.max(0.001, (m.now - m.startedAt) / 1000) : 0;
      const collectives = m ? m.collectiveSeconds : 0;
      // collectiveSeconds counts finished ops only: time blocked in the current one is waiting, not compute.
      const waiting = m?.current ? Math.max(0, (m.now - m.current.since) / 1000) : 0;
      // psSeconds likewise: a parameter-server call in flight is time in the PS, not compute.
      const ps = m ? m.psSeconds + psWaitingSeconds(m) : 0;
      return {
        role: p.role,
        rank: p.rank,
        host: p.host,
        pid: p.pid,
        state: processState(p, now),
        lastHeartbeatAgoMs: now - p.lastHeartbeatMs,
        current: m?.current ?? null,
        iteration: p.role === 'worker' ? (this.latest.get(p.rank)?.['iteration'] ?? this.latest.get(p.rank)?.['epoch'] ?? null) : null,
        ops: m?.ops ?? {},
        bytes: m?.bytes ?? 0,
        seconds: { wall, collectives, waiting, ps, compute: Math.max(0, wall - collectives - waiting - ps) },
        server: p.server,
        rates: p.rates,
      };
    };
    return {
      startedAt: this.startedAt,
      now,
      processes: [...this.workers(), ...this.servers()].map(describe),
      elapsedSeconds: (now - this.startedAt) / 1000,
      progress: this.progress(now),
      latest: Object.fromEntries(this.latest),
      // The series themselves are fetched from /api/series when this moves (they can be large).
      seriesVersion: this.series.version,
      seriesDropped: this.series.dropped,
      stalls: this.stalls.slice(-20),
      epoch: this.epoch,
      events: this.events.slice(-50),
    };
  }

  /** Everything a run report needs (run_report.ts): the state, the whole stall history and the series. */
  dump(): JobDump {
    return { state: this.state(), stalls: this.stalls.slice(-1000), series: this.series.all() };
  }

  /** Chrome trace-event JSON (chrome://tracing, Perfetto) of the recent collectives. */
  chromeTrace(): object {
    const events: object[] = [];
    for (const [rank, list] of this.timelines) {
      events.push({ name: 'thread_name', ph: 'M', pid: 1, tid: rank, args: { name: `rank ${rank}` } });
      for (const e of list) {
        events.push({
          name: `${e.op} #${e.seq}`,
          cat: e.group,
          ph: 'X',
          pid: 1,
          tid: rank,
          // Whole µs: the ranks send fractional ms (telemetry.ts preciseNow).
          ts: Math.round(e.start * 1000),
          dur: Math.max(1, Math.round((e.end - e.start) * 1000)),
          args: { bytes: e.bytes, ok: e.ok },
        });
      }
    }
    return { traceEvents: events, displayTimeUnit: 'ms' };
  }
}

export function processState(p: ProcessView, now = Date.now()): string {
  if (!p.alive) return p.lostReason ? 'dead' : 'finished';
  if (now - p.lastHeartbeatMs > 5000) return 'silent';
  const c = p.metrics?.current;
  if (c) return `waiting in ${c.op} seq ${c.seq}`;
  return p.metrics ? 'running' : 'starting';
}

/** Seconds the oldest parameter-server call in flight has waited, as of the metrics' own clock. */
export function psWaitingSeconds(m: MetricsSnapshot): number {
  return m.psWaitingSince == null ? 0 : Math.max(0, (m.now - m.psWaitingSince) / 1000);
}

function num(v: unknown, fallback: number): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : fallback;
}
