// Finding a job's processes from outside (Linux /proc): chaos tests and bench/chaos.ts kill a
// coordinator, a rank or a server of a `shoal` CLI job they started; signal tests check that a
// stopped job left none of its processes behind.
import { readdirSync, readFileSync } from 'node:fs';

/** Children of `pid` whose command line contains `needle`. */
export function childrenMatching(pid: number, needle: string): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (Number(statFields(Number(entry))?.[1]) === pid && readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(needle)) out.push(Number(entry));
    } catch {
      /* gone */
    }
  }
  return out;
}

/** The child of `pid` matching `needle` whose environment has `name=value` (a given rank or server). */
export function childWithEnv(pid: number, needle: string, name: string, value: string): number | null {
  for (const p of childrenMatching(pid, needle)) {
    try {
      if (readFileSync(`/proc/${p}/environ`, 'utf8').split('\0').includes(`${name}=${value}`)) return p;
    } catch {
      /* gone */
    }
  }
  return null;
}

/** A process as of one moment: its pid and start time, so a pid reused later is not mistaken for it. */
export interface ProcId {
  pid: number;
  start: string;
  cmdline: string;
}

/** Fields of /proc/PID/stat after the command name (state is [0], ppid [1], starttime [19]); null when gone. */
function statFields(pid: number): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** Every process below `pid` (children, grandchildren, ...) right now. */
export function descendants(pid: number): ProcId[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const f = statFields(Number(entry));
    if (!f) continue;
    const ppid = Number(f[1]);
    children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
  }
  const out: ProcId[] = [];
  const queue = [...(children.get(pid) ?? [])];
  while (queue.length > 0) {
    const p = queue.shift()!;
    const f = statFields(p);
    if (!f) continue;
    let cmdline = '';
    try {
      cmdline = readFileSync(`/proc/${p}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
    } catch {
      /* gone */
    }
    out.push({ pid: p, start: f[19]!, cmdline });
    queue.push(...(children.get(p) ?? []));
  }
  return out;
}

/** Those of `procs` still running (zombies and reused pids do not count). */
export function stillRunning(procs: readonly ProcId[]): ProcId[] {
  return procs.filter((p) => {
    const f = statFields(p.pid);
    return f !== null && f[19] === p.start && f[0] !== 'Z';
  });
}
