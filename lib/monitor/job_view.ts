// The coordinator's picture of a running job, built from the metrics every process sends
// with its heartbeat (lib/telemetry.ts): who is alive and in which op, where time goes
// (compute vs collectives vs parameter-server calls), the training curve the algorithms
// report, per-server tables, and the last collectives of each rank as a timeline.
import type { MetricsSnapshot, OpRecord, ReportPoint } from '../telemetry.js';

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

const MAX_REPORTS = 20_000;
const TIMELINE_PER_RANK = 200;

export class JobView {
  readonly startedAt = Date.now();
  readonly processes = new Map<string, ProcessView>();
  readonly reports: Array<ReportPoint & { rank: number }> = [];
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
    if (m.server && typeof m.server === 'object') {
      const prev = p.server;
      const dt = p.metrics && typeof m.now === 'number' ? (m.now - p.metrics.now) / 1000 : 0;
      if (prev && dt > 0) {
        p.rates = {
          pullsPerSec: ((m.server.pulls ?? 0) - (prev.pulls ?? 0)) / dt,
          pushesPerSec: ((m.server.pushes ?? 0) - (prev.pushes ?? 0)) / dt,
          keysPerSec: ((m.server.keysPulled ?? 0) + (m.server.keysPushed ?? 0) - (prev.keysPulled ?? 0) - (prev.keysPushed ?? 0)) / dt,
        };
      }
      p.server = m.server;
    }
    if (Array.isArray(m.reports)) {
      for (const r of m.reports.slice(0, 1000)) {
        if (r && typeof r.t === 'number' && r.values && typeof r.values === 'object') this.reports.push({ t: r.t, values: r.values, rank });
      }
      if (this.reports.length > MAX_REPORTS) this.reports.splice(0, this.reports.length - MAX_REPORTS);
    }
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
      reports: [],
      timeline: [],
    };
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
      const ps = m ? m.psSeconds : 0;
      return {
        role: p.role,
        rank: p.rank,
        host: p.host,
        pid: p.pid,
        state: processState(p, now),
        lastHeartbeatAgoMs: now - p.lastHeartbeatMs,
        current: m?.current ?? null,
        iteration: lastReport(this.reports, p.rank, 'iteration'),
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
      reports: this.reports.slice(-2000),
      stalls: this.stalls.slice(-20),
      epoch: this.epoch,
      events: this.events.slice(-50),
    };
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

function lastReport(reports: Array<ReportPoint & { rank: number }>, rank: number, name: string): number | null {
  for (let i = reports.length - 1; i >= 0; i--) {
    const r = reports[i]!;
    if (r.rank === rank && typeof r.values[name] === 'number') return r.values[name]!;
  }
  return null;
}

function num(v: unknown, fallback: number): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : fallback;
}
