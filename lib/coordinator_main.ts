// Entry of the coordinator process `shoal run` starts beside the ranks (lib/coordinator_process.ts
// starts it, and starts it again on the same port if it dies). Its configuration comes in
// SHOAL_COORDINATOR_CONFIG (JSON, not argv: it holds the job token); it talks to the launcher
// over the IPC channel: 'ready' {port}, 'log' {line}, 'straggler' {rank, message},
// 'silent' {role, rank, pid, reason} (declared lost for want of heartbeats) out;
// 'markDead' {rank, reason, role}, 'dump' {id} (answered with 'dump' {id, data}: the job's
// history for --report), 'tick' (the launcher, which forwards the ranks' connections, is
// running: Coordinator.forwarderTick) and 'close' in. It exits when the launcher goes away.
import { Coordinator } from './coordinator.js';
import type { CoordinatorProcessConfig as Config } from './coordinator_process.js';

type Inbound =
  | { type: 'markDead'; rank: number; reason: string; role: 'worker' | 'server' }
  | { type: 'adminReply'; id: number; ok: boolean; message: string }
  | { type: 'dump'; id: number }
  | { type: 'tick' }
  | { type: 'close' };

/** Admin requests wait for the launcher's verdict. */
const adminWaiting = new Map<number, { resolve: (m: string) => void; reject: (e: Error) => void }>();
let nextAdminId = 1;

const send = (msg: object): void => {
  // The callback takes a write error (EPIPE: the launcher just went away) that would otherwise
  // be an unhandled 'error' event; the 'disconnect' handler below shuts down.
  if (process.connected) process.send?.(msg, undefined, {}, () => undefined);
};

const cfg = JSON.parse(process.env.SHOAL_COORDINATOR_CONFIG ?? 'null') as Config | null;
if (!cfg || !process.send) {
  process.stderr.write('coordinator_main: start me with `shoal run` (needs SHOAL_COORDINATOR_CONFIG and an IPC channel)\n');
  process.exit(2);
}
delete process.env.SHOAL_COORDINATOR_CONFIG;

const coordinator = await Coordinator.start({
  // Private: ranks reach it through the launcher's forwarding port.
  host: '127.0.0.1',
  port: 0,
  token: cfg.token,
  dashboard: cfg.dashboard,
  stateFile: cfg.stateFile,
  ...(cfg.stallTimeoutMs !== undefined ? { stallTimeoutMs: cfg.stallTimeoutMs } : {}),
  ...(cfg.stragglers ? { stragglers: { ...cfg.stragglers, onStraggler: (s) => send({ type: 'straggler', rank: s.rank, message: s.message }) } } : {}),
  log: (line) => send({ type: 'log', line }),
  onSilent: (silent, reason) => send({ type: 'silent', ...silent, reason }),
  admin: (action, server) =>
    new Promise<string>((resolve, reject) => {
      const id = nextAdminId++;
      adminWaiting.set(id, { resolve, reject });
      send({ type: 'admin', id, action, server });
    }),
});

let closing = false;
async function shutdown(): Promise<void> {
  if (closing) return;
  closing = true;
  await coordinator.close();
  process.exit(0);
}
process.on('message', (m: Inbound) => {
  if (m.type === 'markDead') coordinator.markDead(m.rank, m.reason, m.role);
  else if (m.type === 'adminReply') {
    const w = adminWaiting.get(m.id);
    adminWaiting.delete(m.id);
    if (m.ok) w?.resolve(m.message);
    else w?.reject(new Error(m.message));
  }
  else if (m.type === 'tick') coordinator.forwarderTick();
  else if (m.type === 'dump') send({ type: 'dump', id: m.id, data: coordinator.view().dump() });
  else if (m.type === 'close') void shutdown();
});
// The launcher died or closed the channel: nothing is left to coordinate.
process.on('disconnect', () => void shutdown());
process.on('SIGTERM', () => void shutdown());
process.on('SIGINT', () => undefined);  // Ctrl-C is the launcher's to handle
send({ type: 'ready', port: coordinator.port });
