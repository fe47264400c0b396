// The job's numbers in Prometheus text exposition format (version 0.0.4), `shoal_` prefix,
// labels rank/role/table/op. Built from JobView on every scrape.
import { processState, type JobView } from './job_view.js';

interface Sample {
  labels: Record<string, string | number>;
  value: number;
}

class Family {
  readonly samples: Sample[] = [];
  constructor(
    readonly name: string,
    readonly type: 'counter' | 'gauge',
    readonly help: string,
  ) {}
  add(labels: Record<string, string | number>, value: number): void {
    if (Number.isFinite(value)) this.samples.push({ labels, value });
  }
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

export function renderFamilies(families: Family[]): string {
  const out: string[] = [];
  for (const f of families) {
    out.push(`# HELP ${f.name} ${f.help}`);
    out.push(`# TYPE ${f.name} ${f.type}`);
    for (const s of f.samples) {
      const labels = Object.entries(s.labels)
        .map(([k, v]) => `${k}="${escapeLabel(String(v))}"`)
        .join(',');
      out.push(`${f.name}${labels ? `{${labels}}` : ''} ${s.value}`);
    }
  }
  return out.join('\n') + '\n';
}

export function prometheusText(view: JobView): string {
  const up = new Family('shoal_up', 'gauge', 'Whether the process is alive (1) or dead/finished (0).');
  const hb = new Family('shoal_last_heartbeat_age_seconds', 'gauge', 'Seconds since the last heartbeat.');
  const waiting = new Family('shoal_waiting', 'gauge', 'Whether the rank is inside a collective right now.');
  const ops = new Family('shoal_collective_ops_total', 'counter', 'Collectives completed, by op.');
  const bytes = new Family('shoal_collective_bytes_total', 'counter', 'Bytes of user buffers passed to collectives.');
  const coll = new Family('shoal_collective_seconds_total', 'counter', 'Seconds spent inside collectives (including waiting for peers).');
  const ps = new Family('shoal_ps_seconds_total', 'counter', 'Seconds spent in parameter-server calls.');
  const psCalls = new Family('shoal_ps_calls_total', 'counter', 'Parameter-server calls completed.');
  const compute = new Family('shoal_compute_seconds_total', 'counter', 'Seconds outside collectives and PS calls.');
  const report = new Family('shoal_report', 'gauge', 'Latest value the algorithm reported (comm.report), by name.');
  const keys = new Family('shoal_server_keys', 'gauge', 'Rows held by a server, by table (primaries and replicas).');
  const mem = new Family('shoal_server_memory_bytes', 'gauge', 'Bytes held by a server, by table.');
  const pulls = new Family('shoal_server_pulls_total', 'counter', 'Pull requests served.');
  const pushes = new Family('shoal_server_pushes_total', 'counter', 'Push requests applied.');
  const keysServed = new Family('shoal_server_keys_total', 'counter', 'Keys pulled plus keys pushed.');
  const clockMin = new Family('shoal_ssp_clock_min', 'gauge', 'Slowest worker clock seen by a server.');
  const clockMax = new Family('shoal_ssp_clock_max', 'gauge', 'Fastest worker clock seen by a server.');
  const now = Date.now();
  for (const p of view.processes.values()) {
    const l = { rank: p.rank, role: p.role };
    up.add(l, p.alive ? 1 : 0);
    hb.add(l, (now - p.lastHeartbeatMs) / 1000);
    const m = p.metrics;
    if (p.role === 'worker' && m) {
      waiting.add(l, processState(p, now).startsWith('waiting') ? 1 : 0);
      for (const [op, n] of Object.entries(m.ops)) ops.add({ ...l, op }, n);
      bytes.add(l, m.bytes);
      coll.add(l, m.collectiveSeconds);
      ps.add(l, m.psSeconds);
      psCalls.add(l, m.psCalls);
      compute.add(l, Math.max(0, (m.now - m.startedAt) / 1000 - m.collectiveSeconds - m.psSeconds));
    }
    const s = p.server;
    if (p.role === 'server' && s) {
      for (const t of s.tables ?? []) {
        keys.add({ ...l, table: t.name }, t.keys);
        mem.add({ ...l, table: t.name }, t.memoryBytes);
      }
      pulls.add(l, s.pulls ?? 0);
      pushes.add(l, s.pushes ?? 0);
      keysServed.add(l, (s.keysPulled ?? 0) + (s.keysPushed ?? 0));
      clockMin.add(l, s.minClock ?? 0);
      clockMax.add(l, s.maxClock ?? 0);
    }
  }
  for (const [rank, values] of view.latest) for (const [name, value] of Object.entries(values)) report.add({ rank, role: 'worker', name }, value);
  const epoch = new Family('shoal_epoch', 'gauge', 'How many times a lost worker made the job rebuild its world (0 when none was lost).');
  epoch.add({}, view.epoch);
  return renderFamilies([up, hb, waiting, ops, bytes, coll, ps, psCalls, compute, report, keys, mem, pulls, pushes, keysServed, clockMin, clockMax, epoch]);
}

export { Family };
