// Stall inspector: when a worker has waited in one collective longer than the threshold,
// say which ranks have reached that op and which have not, and for each missing rank
// whether it is dead, in a different op (desync) or busy computing. Horovod's stall check,
// for the world communicator (split communicators are reported by their op only).
import type { JobView, ProcessView } from './job_view.js';

export interface Stall {
  key: string;      // op/group/seq: reported once per stall
  message: string;
}

export function inspectStalls(view: JobView, thresholdMs: number, now = Date.now()): Stall[] {
  const workers = view.workers();
  const stuck = new Map<string, ProcessView[]>();
  for (const w of workers) {
    const c = w.alive ? w.metrics?.current : null;
    if (!c || now - c.since < thresholdMs) continue;
    const key = `${c.op}/${c.group}/${c.seq}`;
    const list = stuck.get(key) ?? [];
    list.push(w);
    stuck.set(key, list);
  }
  const stalls: Stall[] = [];
  for (const [key, arrived] of stuck) {
    const first = arrived[0]!.metrics!.current!;
    const waitedS = Math.round((now - Math.min(...arrived.map((w) => w.metrics!.current!.since))) / 1000);
    const here = new Set(arrived.map((w) => w.rank));
    const missing: string[] = [];
    if (first.group === 'world') {
      for (const w of workers) {
        if (here.has(w.rank)) continue;
        missing.push(`rank ${w.rank} (${whereIs(w, first.seq, now)})`);
      }
    }
    const ranks = [...here].sort((a, b) => a - b).join(', ');
    const message =
      `stall: ${first.op} seq ${first.seq}${first.group === 'world' ? '' : ` on communicator ${first.group}`} has waited ${waitedS} s; ` +
      `arrived: rank${here.size > 1 ? 's' : ''} ${ranks}` +
      (missing.length ? `; missing: ${missing.join(', ')}` : first.group === 'world' ? '; every rank has arrived (a peer may be hung)' : '');
    stalls.push({ key, message });
  }
  return stalls;
}

function whereIs(w: ProcessView, seq: number, now: number): string {
  if (!w.alive) return w.lostReason ? `dead: ${w.lostReason}` : 'finished';
  if (now - w.lastHeartbeatMs > 5000) return `silent for ${Math.round((now - w.lastHeartbeatMs) / 1000)} s`;
  const c = w.metrics?.current;
  if (c) return `in ${c.op} seq ${c.seq}${c.group === 'world' ? '' : ` on ${c.group}`} (desync)`;
  const last = w.metrics?.lastSeq['world'];
  return `busy computing; last finished seq ${last ?? 'none'}${last !== undefined && last >= seq ? ' (ahead?)' : ''}`;
}
