// The coordinator and its clients in one process: rendezvous tables, timeouts naming the
// missing ranks, authentication, peer-loss broadcast and sub-groups. Every port is 0.

import test, { type ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Coordinator } from '../../lib/coordinator.js';
import { CoordinatorClient, type PeerLostEvent } from '../../lib/coordinator_client.js';
import { FORWARDER_TICK_MS } from '../../lib/coordinator_protocol.js';
import { RendezvousError, ShoalError, type ErrorCode } from '../../lib/errors.js';

const TOKEN = 'f'.repeat(64);

interface Fixture {
  coord: Coordinator;
  clients: CoordinatorClient[];
  logs: string[];
}

async function setUp(t: ExecutionContext, size: number, opts: { heartbeatTimeoutMs?: number; heartbeatIntervalMs?: (rank: number) => number } = {}): Promise<Fixture> {
  const logs: string[] = [];
  const coord = await Coordinator.start({ token: TOKEN, heartbeatTimeoutMs: opts.heartbeatTimeoutMs ?? 10_000, log: (l) => logs.push(l) });
  const clients = await Promise.all(
    Array.from({ length: size }, (_, rank) =>
      CoordinatorClient.connect(
        { host: coord.host, port: coord.port },
        { token: TOKEN, rank, size, timeoutMs: 5000, heartbeatIntervalMs: opts.heartbeatIntervalMs?.(rank) },
      ),
    ),
  );
  t.teardown(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await coord.close();
  });
  return { coord, clients, logs };
}

function endpoint(rank: number): { host: string; port: number } {
  return { host: '127.0.0.1', port: 30000 + rank };
}

/** The next peerLost event on `client`, or a rejection after `ms`. */
function nextPeerLost(client: CoordinatorClient, ms = 5000): Promise<PeerLostEvent> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no peerLost within ${ms} ms`)), ms);
    client.once('peerLost', (e) => {
      clearTimeout(timer);
      resolve(e);
    });
  });
}

async function rejectsWith(t: ExecutionContext, p: Promise<unknown>, code: ErrorCode, ...needles: string[]): Promise<void> {
  const err = await t.throwsAsync(p);
  t.true(err instanceof ShoalError, String(err));
  t.is((err as ShoalError).code, code, err?.message);
  for (const n of needles) t.true(err?.message.includes(n), `expected ${JSON.stringify(n)} in: ${err?.message}`);
}

/** Destroys a client's TCP socket without a goodbye, as a crashed process would. */
function crash(client: CoordinatorClient): void {
  ((client as unknown as { ws: { _socket: Socket } }).ws._socket).destroy();
}

test('health endpoint answers without a token', async (t) => {
  t.timeout(10_000);
  const { coord } = await setUp(t, 0);
  const res = await fetch(`http://${coord.host}:${coord.port}/v1/health`);
  t.is(res.status, 200);
  t.is(await res.text(), 'ok');
  t.is((await fetch(`http://${coord.host}:${coord.port}/nope`)).status, 404);
});

test('every rank receives the world table sorted by rank', async (t) => {
  t.timeout(10_000);
  const { coord, clients } = await setUp(t, 4);
  const order = [3, 1, 0, 2];
  const tables = await Promise.all(order.map((r) => (clients[r] as CoordinatorClient).register('world', 4, r, endpoint(r), 5000)));
  const expected = [0, 1, 2, 3].map((rank) => ({ rank, ...endpoint(rank) }));
  for (const table of tables) t.deepEqual(table, expected);
  t.deepEqual(coord.state().pendingGroups, []);
  t.deepEqual(coord.state().ranks.map((r) => [r.rank, r.alive, r.pid]), [0, 1, 2, 3].map((r) => [r, true, process.pid]));
});

test('a group name can be reused once it completed', async (t) => {
  t.timeout(10_000);
  const { clients } = await setUp(t, 2);
  for (let round = 0; round < 2; round++) {
    const tables = await Promise.all(clients.map((c, r) => c.register('world', 2, r, { host: '127.0.0.1', port: 1000 + 10 * round + r }, 5000)));
    t.deepEqual(tables[0]?.map((p) => p.port), [1000 + 10 * round, 1001 + 10 * round]);
  }
});

test('sub-groups rendezvous independently of world', async (t) => {
  t.timeout(10_000);
  const { clients } = await setUp(t, 4);
  const [c0, c1, c2, c3] = clients as [CoordinatorClient, CoordinatorClient, CoordinatorClient, CoordinatorClient];
  const evens = Promise.all([c0.register('evens', 2, 0, endpoint(10), 5000), c2.register('evens', 2, 1, endpoint(12), 5000)]);
  const odds = Promise.all([c3.register('odds', 2, 1, endpoint(13), 5000), c1.register('odds', 2, 0, endpoint(11), 5000)]);
  const [e, o] = await Promise.all([evens, odds]);
  t.deepEqual(e[0], [{ rank: 0, ...endpoint(10) }, { rank: 1, ...endpoint(12) }]);
  t.deepEqual(e[1], e[0]);
  t.deepEqual(o[0], [{ rank: 0, ...endpoint(11) }, { rank: 1, ...endpoint(13) }]);
});

test('rendezvous timeout names the missing ranks', async (t) => {
  t.timeout(10_000);
  const { clients, logs } = await setUp(t, 4);
  const arrived = [0, 1, 3];
  const results = arrived.map((r) => (clients[r] as CoordinatorClient).register('world', 4, r, endpoint(r), r === 1 ? 300 : 5000));
  for (const p of results) {
    const err = await t.throwsAsync(p, { instanceOf: RendezvousError });
    t.is(err?.message, 'rendezvous for group "world" timed out after 300 ms: 3 of 4 ranks arrived; missing ranks: 2');
  }
  t.true(logs.some((l) => l.includes('missing ranks: 2')));
});

test('mismatched group sizes fail every member', async (t) => {
  t.timeout(10_000);
  const { clients } = await setUp(t, 2);
  const a = clients[0]!.register('g', 2, 0, endpoint(0), 5000);
  const b = clients[1]!.register('g', 3, 1, endpoint(1), 5000);
  await rejectsWith(t, a, 'ERR_MISMATCH', 'group "g"', 'size 3', 'size 2');
  await rejectsWith(t, b, 'ERR_MISMATCH', 'group "g"');
});

test('duplicate and out-of-range group ranks are rejected', async (t) => {
  t.timeout(10_000);
  const { clients } = await setUp(t, 2);
  const a = clients[0]!.register('g', 2, 1, endpoint(0), 5000);
  const b = clients[1]!.register('g', 2, 1, endpoint(1), 5000);
  await rejectsWith(t, a, 'ERR_MISMATCH', 'group rank 1 was registered twice', 'ranks 0 and 1');
  await rejectsWith(t, b, 'ERR_MISMATCH');
  await rejectsWith(t, clients[0]!.register('h', 2, 2, endpoint(0), 5000), 'ERR_INVALID_ARGUMENT', 'groupRank', '0..1');
});

test('a wrong token is rejected with ERR_AUTH', async (t) => {
  t.timeout(10_000);
  const { coord, logs } = await setUp(t, 0);
  const err = await t.throwsAsync(CoordinatorClient.connect({ host: coord.host, port: coord.port }, { token: 'wrong', rank: 0, size: 1, timeoutMs: 3000 }));
  t.true(err instanceof ShoalError);
  t.is((err as ShoalError).code, 'ERR_AUTH');
  t.true(err?.message.startsWith('coordinator rejected this rank: wrong SHOAL_TOKEN'), err?.message);
  t.true(logs.some((l) => l.includes('wrong job token')));
  t.deepEqual(coord.state().ranks, []);
});

test('a size disagreement and a duplicate live rank are rejected', async (t) => {
  t.timeout(10_000);
  const { coord } = await setUp(t, 2);
  const addr = { host: coord.host, port: coord.port };
  await rejectsWith(t, CoordinatorClient.connect(addr, { token: TOKEN, rank: 1, size: 3, timeoutMs: 3000 }), 'ERR_CONFIG', 'rank 1 says the job has 3 ranks, but rank 0 said 2');
  await rejectsWith(t, CoordinatorClient.connect(addr, { token: TOKEN, rank: 1, size: 2, timeoutMs: 3000 }), 'ERR_CONFIG', 'rank 1 is already connected');
});

test('an unreachable coordinator is reported with its address', async (t) => {
  t.timeout(10_000);
  const coord = await Coordinator.start({ token: TOKEN, log: () => {} });
  const port = coord.port;
  await coord.close();
  const err = await t.throwsAsync(CoordinatorClient.connect({ host: '127.0.0.1', port }, { token: TOKEN, rank: 0, size: 1, timeoutMs: 400 }), { instanceOf: RendezvousError });
  t.true(err?.message.startsWith(`could not reach the Shoal coordinator at 127.0.0.1:${port} within 400 ms (SHOAL_COORDINATOR); is rank 0 / shoal run up?`), err?.message);
});

test('connect retries until the coordinator comes up', async (t) => {
  t.timeout(10_000);
  const probe = await Coordinator.start({ token: TOKEN, log: () => {} });
  const port = probe.port;
  await probe.close();
  const pending = CoordinatorClient.connect({ host: '127.0.0.1', port }, { token: TOKEN, rank: 0, size: 1, timeoutMs: 5000 });
  await new Promise((r) => setTimeout(r, 300));
  const coord = await Coordinator.start({ token: TOKEN, port, log: () => {} });
  const client = await pending;
  t.teardown(async () => {
    await client.close();
    await coord.close();
  });
  t.deepEqual(await client.register('world', 1, 0, endpoint(0), 1000), [{ rank: 0, ...endpoint(0) }]);
});

test('a crashed rank is broadcast as peerLost and fails its pending group', async (t) => {
  t.timeout(10_000);
  const { coord, clients, logs } = await setUp(t, 3);
  const pending = clients[0]!.register('world', 3, 0, endpoint(0), 5000);
  const alsoPending = clients[2]!.register('world', 3, 2, endpoint(2), 5000);
  const lost0 = nextPeerLost(clients[0]!);
  const lost1 = nextPeerLost(clients[1]!);
  await new Promise((r) => setTimeout(r, 50));
  crash(clients[2]!);
  for (const e of await Promise.all([lost0, lost1])) {
    t.deepEqual(e, { rank: 2, role: 'worker', reason: 'connection to coordinator closed without goodbye' });
  }
  await rejectsWith(t, pending, 'ERR_PEER_LOST', 'group "world"', 'rank 2 was lost');
  await t.throwsAsync(alsoPending);
  t.false(coord.state().ranks[2]?.alive);
  t.true(logs.some((l) => l.includes('rank 2 lost')));
});

test('a rank that says goodbye is not reported lost', async (t) => {
  t.timeout(10_000);
  const { coord, clients } = await setUp(t, 2);
  const seen: PeerLostEvent[] = [];
  clients[0]!.on('peerLost', (e) => seen.push(e));
  await clients[1]!.close();
  while (coord.state().ranks[1]?.alive) await new Promise((r) => setTimeout(r, 10));
  // Frames on one connection arrive in order: a peerLost sent before this table would be here already.
  await clients[0]!.register('solo', 1, 0, endpoint(0), 1000);
  t.deepEqual(seen, []);
});

test('markDead broadcasts the launcher reason', async (t) => {
  t.timeout(10_000);
  const { coord, clients } = await setUp(t, 2);
  const lost = nextPeerLost(clients[0]!);
  coord.markDead(1, 'killed by SIGKILL');
  t.deepEqual(await lost, { rank: 1, role: 'worker', reason: 'killed by SIGKILL' });
});

test('a silent rank is declared dead after the heartbeat timeout', async (t) => {
  t.timeout(30_000);
  const { clients } = await setUp(t, 2, { heartbeatTimeoutMs: 1500, heartbeatIntervalMs: (r) => (r === 1 ? 1_000_000 : 100) });
  const disconnected = new Promise<string>((resolve) => clients[1]!.once('disconnected', (e) => resolve(e.reason)));
  const lost = await nextPeerLost(clients[0]!, 20_000);
  t.deepEqual(lost, { rank: 1, role: 'worker', reason: 'no heartbeat for 1500 ms' });
  t.truthy(await disconnected, 'the silent rank is cut off');
});

// Under shoal run the launcher ticks the coordinator (Coordinator.forwarderTick); a late tick
// credits every rank with the forwarder's stall. That credit covers the stall only: a rank that
// is really silent must still run out of time while the ticks keep coming late.
test('a silent rank is still declared dead while every forwarder tick comes late', async (t) => {
  t.timeout(60_000);
  const { coord, clients } = await setUp(t, 2, { heartbeatTimeoutMs: 2000, heartbeatIntervalMs: (r) => (r === 1 ? 1_000_000 : 100) });
  coord.forwarderTick();
  const ticker = setInterval(() => coord.forwarderTick(), 3 * FORWARDER_TICK_MS);
  t.teardown(() => clearInterval(ticker));
  const lost = await nextPeerLost(clients[0]!, 50_000);
  t.deepEqual(lost, { rank: 1, role: 'worker', reason: 'no heartbeat for 2000 ms' });
});

test('closing the coordinator disconnects clients and fails pending rendezvous', async (t) => {
  t.timeout(10_000);
  const { coord, clients } = await setUp(t, 2);
  const pending = clients[0]!.register('world', 2, 0, endpoint(0), 5000);
  const disconnected = new Promise((resolve) => clients[1]!.once('disconnected', resolve));
  while (coord.state().pendingGroups.length === 0) await new Promise((r) => setTimeout(r, 10));
  await coord.close();
  await rejectsWith(t, pending, 'ERR_ABORTED', 'shutting down');
  await disconnected;
  await rejectsWith(t, clients[1]!.register('world', 2, 1, endpoint(1), 1000), 'ERR_RENDEZVOUS', 'group "world"');
});

test('an idle client does not keep its process alive; a pending register does', async (t) => {
  t.timeout(20_000);
  const { coord } = await setUp(t, 0);
  const script = fileURLToPath(new URL('../../../test/fixtures/idle_client.mjs', import.meta.url));
  const run = (mode: string): Promise<{ code: number | null; stdout: string }> =>
    new Promise((resolve, reject) => {
      const child = execFile(process.execPath, [script, String(coord.port), TOKEN, mode], { timeout: 10_000, killSignal: 'SIGKILL' }, (err, stdout) => {
        if (err && err.killed) reject(new Error(`${mode}: the client process did not exit on its own`));
        else resolve({ code: child.exitCode, stdout });
      });
    });
  const idle = await run('idle');
  t.is(idle.code, 0);
  t.is(idle.stdout.trim(), 'connected; not closing');
  const wait = await run('wait');
  t.is(wait.code, 0);
  t.is(wait.stdout.trim(), 'register failed: ERR_RENDEZVOUS');
});

test('parameter servers join as their own role: workers look up their table and hear when one is lost', async (t) => {
  const { coord, clients } = await setUp(t, 2);
  const servers = await Promise.all(
    [0, 1].map((rank) =>
      CoordinatorClient.connect({ host: coord.host, port: coord.port }, { token: TOKEN, rank, size: 2, timeoutMs: 5000, role: 'server' }),
    ),
  );
  t.teardown(() => Promise.all(servers.map((s) => s.close())));
  // A lookup before the group completes waits for it.
  const early = clients[0]!.lookup('ps/servers', 5000);
  const tables = await Promise.all(servers.map((s, rank) => s.register('ps/servers', 2, rank, endpoint(100 + rank), 5000)));
  const expected = [
    { rank: 0, ...endpoint(100) },
    { rank: 1, ...endpoint(101) },
  ];
  t.deepEqual(tables[0], expected);
  t.deepEqual(await early, expected);
  t.deepEqual(await clients[1]!.lookup('ps/servers', 5000), expected);
  // Server rank 1 and worker rank 1 are different processes: losing the server says so.
  const lost = nextPeerLost(clients[0]!);
  coord.markDead(1, 'killed by SIGKILL', 'server');
  t.deepEqual(await lost, { rank: 1, role: 'server', reason: 'killed by SIGKILL' });
  await rejectsWith(t, clients[0]!.lookup('never/registered', 300), 'ERR_RENDEZVOUS', 'lookup of group "never/registered" timed out');
});
