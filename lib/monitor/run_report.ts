// `--report DIR` (shoal run, shoal train) and `shoal report`: what a finished job leaves behind
// so it can be looked at and compared later, after its dashboard is gone.
//   DIR/report.html   the dashboard page with the data embedded: charts, processes, events,
//                     servers, the stall history, the final metrics; one file, works offline
//   DIR/series.jsonl  every point of every series, one JSON object per line (jq, pandas)
//   DIR/summary.json  the outcome (ok, summary line, exits, restarts), elapsed time, progress and
//                     the final value of every reported name per rank
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';

import { ConfigError } from '../errors.js';
import type { JobResult } from '../launcher.js';
import { dashboardHtml, type PageData } from './dashboard_html.js';
import type { JobDump } from './job_view.js';
import type { SeriesData } from './series_store.js';

export const REPORT_FILES = { html: 'report.html', series: 'series.jsonl', summary: 'summary.json' } as const;

export interface RunSummary {
  ok: boolean;
  result: string;
  command: string[];
  startedAt: string;
  elapsedSeconds: number;
  exits: JobResult['exits'];
  restarts: NonNullable<JobResult['restarts']>;
  /** The coordinator's last state (processes, progress, latest values); null if it could not be read. */
  state: (Record<string, unknown> & { latest?: Record<string, Record<string, number>> }) | null;
  stalls: string[];
}

/** One line of series.jsonl: one point of one series. */
interface SeriesLine {
  metric: string;
  role: 'worker' | 'server';
  rank: number;
  xKind: SeriesData['xKind'];
  x: number;
  y: number;
  lo: number;
  hi: number;
  n: number;
  t: number;
}

/** Creates DIR up front, so a job never runs for hours to fail at writing its report. @throws {ConfigError} naming the flag and directory. */
export function prepareReportDir(command: string, dir: string): string {
  const abs = resolve(dir);
  try {
    mkdirSync(abs, { recursive: true });
  } catch (err) {
    throw new ConfigError('ERR_CONFIG', `${command}: --report ${JSON.stringify(dir)}: cannot create the directory: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return abs;
}

/** Writes the three files of one run (each atomically: a reader never sees half a file). */
export function writeRunReport(dir: string, run: { command: string[]; startedAtMs: number; result: JobResult; dump: JobDump | null }): void {
  const series = run.dump?.series ?? [];
  const summary: RunSummary = {
    ok: run.result.ok,
    result: run.result.summary,
    command: run.command,
    startedAt: new Date(run.startedAtMs).toISOString(),
    elapsedSeconds: (Date.now() - run.startedAtMs) / 1000,
    exits: run.result.exits,
    restarts: run.result.restarts ?? [],
    state: (run.dump?.state as RunSummary['state']) ?? null,
    stalls: run.dump?.stalls ?? [],
  };
  const lines: string[] = [];
  for (const s of series) {
    for (let i = 0; i < s.x.length; i++) {
      const line: SeriesLine = { metric: s.metric, role: s.role, rank: s.rank, xKind: s.xKind, x: s.x[i]!, y: s.y[i]!, lo: s.lo[i]!, hi: s.hi[i]!, n: s.n[i]!, t: s.t[i]! };
      lines.push(JSON.stringify(line));
    }
  }
  atomicWrite(join(dir, REPORT_FILES.series), lines.length ? `${lines.join('\n')}\n` : '');
  atomicWrite(join(dir, REPORT_FILES.summary), `${JSON.stringify(summary, null, 2)}\n`);
  atomicWrite(join(dir, REPORT_FILES.html), dashboardHtml({ title: `Shoal run ${basename(dir)}`, runs: [pageRun(basename(dir), summary, series)] }));
}

/** Reads a run written by writeRunReport. @throws {ConfigError} naming the file (and line) that is missing or malformed. */
export function readRunReport(dir: string): { summary: RunSummary; series: SeriesData[] } {
  const read = (name: string) => {
    const file = join(dir, name);
    try {
      return { file, text: readFileSync(file, 'utf8') };
    } catch (err) {
      throw new ConfigError('ERR_CONFIG', `shoal report: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message} (is ${JSON.stringify(dir)} a --report directory?)`);
    }
  };
  const s = read(REPORT_FILES.summary);
  let summary: RunSummary;
  try {
    summary = JSON.parse(s.text) as RunSummary;
    if (typeof summary !== 'object' || summary === null || typeof summary.result !== 'string') throw new Error('not a run summary');
  } catch (err) {
    throw new ConfigError('ERR_CONFIG', `shoal report: ${s.file}: ${(err as Error).message}`);
  }
  const j = read(REPORT_FILES.series);
  const byKey = new Map<string, SeriesData>();
  j.text.split('\n').forEach((text, i) => {
    if (text.trim() === '') return;
    let p: SeriesLine;
    try {
      p = JSON.parse(text) as SeriesLine;
      if (typeof p.metric !== 'string' || typeof p.rank !== 'number' || typeof p.x !== 'number' || typeof p.y !== 'number') throw new Error('expected {metric, rank, x, y, ...}');
    } catch (err) {
      throw new ConfigError('ERR_CONFIG', `shoal report: ${j.file}:${i + 1}: ${(err as Error).message}`);
    }
    const role = p.role === 'server' ? 'server' : 'worker';
    const key = `${p.metric}\u0000${role}\u0000${p.rank}`;
    let s = byKey.get(key);
    if (!s) {
      s = { metric: p.metric, role, rank: p.rank, xKind: p.xKind === 'seconds' ? 'seconds' : 'iteration', x: [], y: [], lo: [], hi: [], n: [], t: [], width: 1 };
      byKey.set(key, s);
    }
    s.x.push(p.x);
    s.y.push(p.y);
    s.lo.push(p.lo ?? p.y);
    s.hi.push(p.hi ?? p.y);
    s.n.push(p.n ?? 1);
    s.t.push(p.t ?? 0);
  });
  return { summary, series: [...byKey.values()] };
}

/** `shoal report DIR... --out FILE`: one page with every run's series on shared charts, legend by run. */
export function writeOverlayReport(dirs: readonly string[], out: string): void {
  const names = runNames(dirs);
  const runs = dirs.map((dir, i) => {
    const { summary, series } = readRunReport(dir);
    return pageRun(names[i]!, summary, series);
  });
  atomicWrite(out, dashboardHtml({ title: `Shoal runs: ${names.join(', ')}`, runs }));
}

function pageRun(name: string, summary: RunSummary, series: SeriesData[]): PageData['runs'][number] {
  const { state, stalls, ...rest } = summary;
  return { name, summary: rest, state, stalls, series };
}

/** Each run's directory name; the whole path given where two runs share a name. */
function runNames(dirs: readonly string[]): string[] {
  const base = dirs.map((d) => basename(resolve(d)));
  return base.map((b, i) => (base.indexOf(b) !== base.lastIndexOf(b) ? dirs[i]! : b));
}

function atomicWrite(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}
