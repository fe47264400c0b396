// Where a solver's time goes on this rank: per named phase the wall seconds, and the allReduces
// made in it (count, bytes, and the seconds from submitting one to its result: the exchange plus
// waiting for the peers). newton-l1 reports it in its result and metrics.json ("phases"), so the
// breakdown in BENCHMARKS.md comes from ordinary runs.
import type { Collective } from '../common/collective.js';

export interface Phase {
  seconds: number;
  /** CPU seconds of this process (all its threads) in the phase: on a loaded machine wall time is mostly waiting for a core. */
  cpuSeconds: number;
  allReduces: number;
  bytes: number;
  waitSeconds: number;
}

export type Phases = Record<string, Phase>;

export class PhaseClock {
  readonly phases: Phases = {};
  #current: Phase | null = null;
  #since = 0;
  #cpuSince = 0;

  /** Ends the running phase (if any) and starts `name` (null: none). Phases do not overlap. */
  enter(name: string | null): void {
    const now = performance.now();
    const cpu = cpuSeconds();
    if (this.#current) {
      this.#current.seconds += (now - this.#since) / 1000;
      this.#current.cpuSeconds += cpu - this.#cpuSince;
    }
    this.#current = name === null ? null : (this.phases[name] ??= { seconds: 0, cpuSeconds: 0, allReduces: 0, bytes: 0, waitSeconds: 0 });
    this.#since = now;
    this.#cpuSince = cpu;
  }

  /** comm.allReduce(buf, sum), counted in the running phase (at size 1: buf as is, uncounted). */
  async sum(comm: Collective, buf: Float64Array): Promise<Float64Array> {
    if (comm.size === 1) return buf;
    const t = performance.now();
    await comm.allReduce(buf, { op: 'sum' });
    const phase = this.#current;
    if (phase) {
      phase.allReduces++;
      phase.bytes += buf.byteLength;
      phase.waitSeconds += (performance.now() - t) / 1000;
    }
    return buf;
  }
}

function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}
