// Finding a job's processes from outside (Linux /proc): chaos tests and bench/chaos.ts kill a
// coordinator, a rank or a server of a `shoal` CLI job they started.
import { readdirSync, readFileSync } from 'node:fs';

/** Children of `pid` whose command line contains `needle`. */
export function childrenMatching(pid: number, needle: string): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid && readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(needle)) out.push(Number(entry));
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
