// Progress lines of the iterative trainers. Only rank 0 prints (every rank holds the same
// numbers); every rank forwards them to the dashboard when the communicator has `report`.
import type { Collective } from './collective.js';

export interface ProgressInfo {
  iteration: number;
  objective: number;
  gradNorm: number;
  seconds: number;
  /** Extra columns, printed as `key value`. */
  extra?: Record<string, number>;
}

/** `log` defaults to console.log on rank 0 and nothing elsewhere; pass null for silence. */
export function progressLogger(comm: Collective, label: string, log?: ((line: string) => void) | null): (p: ProgressInfo) => void {
  const sink = log === undefined ? (comm.rank === 0 ? (line: string) => console.log(line) : null) : log;
  return (p) => {
    if (comm.report) {
      const values: Record<string, number> = {};
      for (const [k, v] of Object.entries({ iteration: p.iteration, objective: p.objective, gradNorm: p.gradNorm })) if (Number.isFinite(v)) values[k] = v;
      comm.report(values);
    }
    if (!sink) return;
    const extra = Object.entries(p.extra ?? {})
      .map(([k, v]) => `  ${k} ${Number.isInteger(v) ? v : v.toPrecision(3)}`)
      .join('');
    sink(
      `${label} iter ${String(p.iteration).padStart(4)}  objective ${p.objective.toFixed(6).padStart(16)}  ` +
        `|g| ${p.gradNorm.toExponential(3)}${extra}  ${p.seconds.toFixed(3)}s`,
    );
  };
}
