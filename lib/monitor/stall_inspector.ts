// Stall inspector: when a worker has waited in one collective longer than the threshold,
// say which ranks have reached that op and which have not, and for each missing rank
// whether it is dead, in a different op (desync) or busy computing. A rank that already finished
// the op (a reduceTo's non-root returns once its part is sent) is named as past it, not missing.
// Horovod's stall check, for the world communicator (split communicators are reported by their
// op only).
import { psWaitingSeconds, type JobView, type ProcessView } from './job_view.js';

/** A process heard from less recently than this is "silent" (job_view.ts processState says the same). */
const SILENT_MS = 5000;

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
    if (first.group === 'world' && (!diagnosable(workers, arrived, now) || allOthersFinished(workers, arrived, first.seq))) continue;
    const waitedS = Math.round((now - Math.min(...arrived.map((w) => w.metrics!.current!.since))) / 1000);
    const here = new Set(arrived.map((w) => w.rank));
    const missing: string[] = [];
    const past: number[] = [];
    if (first.group === 'world') {
      for (const w of workers) {
        if (here.has(w.rank)) continue;
        if (w.alive && (w.metrics?.lastSeq['world'] ?? -1) >= first.seq) past.push(w.rank);
        else missing.push(`rank ${w.rank} (${whereIs(w, now)})`);
      }
    }
    const ranks = [...here].sort((a, b) => a - b).join(', ');
    const message =
      `stall: ${first.op} seq ${first.seq}${first.group === 'world' ? '' : ` on communicator ${first.group}`} has waited ${waitedS} s; ` +
      `arrived: rank${here.size > 1 ? 's' : ''} ${ranks}` +
      (past.length ? `; already past it: rank${past.length > 1 ? 's' : ''} ${past.join(', ')}` : '') +
      (missing.length ? `; missing: ${missing.join(', ')}` : first.group === 'world' ? '; every rank has arrived (a peer may be hung)' : '');
    stalls.push({ key, message });
  }
  return stalls;
}

/**
 * A stall is reported once, so its diagnosis must not rest on metrics older than the stall:
 * under load a heartbeat can arrive seconds late, and a rank that already finished the
 * previous op would be described as still inside it. Wait until every missing rank that is
 * alive and not silent has sent metrics since the coordinator saw the first rank arrive.
 */
function diagnosable(workers: ProcessView[], arrived: ProcessView[], now: number): boolean {
  const since = Math.min(...arrived.map((w) => w.currentSinceMs ?? now));
  return workers.every((w) => arrived.includes(w) || !w.alive || w.metrics === null || now - w.lastHeartbeatMs > SILENT_MS || w.metricsAtMs >= since);
}

/**
 * Every other rank already finished world op `seq`: nobody is missing. Seen when the waiters'
 * metrics are older than the others' (a late heartbeat under load); it was reported as a stall.
 */
function allOthersFinished(workers: ProcessView[], arrived: ProcessView[], seq: number): boolean {
  const others = workers.filter((w) => !arrived.includes(w));
  return others.length > 0 && others.every((w) => (w.metrics?.lastSeq['world'] ?? -1) >= seq);
}

function whereIs(w: ProcessView, now: number): string {
  if (!w.alive) return w.lostReason ? `dead: ${w.lostReason}` : 'finished';
  if (now - w.lastHeartbeatMs > SILENT_MS) return `silent for ${Math.round((now - w.lastHeartbeatMs) / 1000)} s`;
  const c = w.metrics?.current;
  if (c) return `in ${c.op} seq ${c.seq}${c.group === 'world' ? '' : ` on ${c.group}`} (desync)`;
  const last = w.metrics?.lastSeq['world'];
  const psWaitS = w.metrics ? psWaitingSeconds(w.metrics) : 0;
  if (psWaitS >= 1) return `waiting ${psWaitS.toFixed(1)} s for a parameter-server call; last finished seq ${last ?? 'none'}`;
  return `busy computing; last finished seq ${last ?? 'none'}`;
}
