// Unauthenticated input against a real coordinator (in this process, so an uncaught exception in
// a handler would end the test run): malformed tokens, the viewer token's limits, silent and
// oversized WebSocket connections, and a cap on connections that have not proven the token.
// After each abuse the coordinator must still serve a legitimate rendezvous.

import test, { type ExecutionContext } from 'ava';
import WebSocket from 'ws';

import { Coordinator, type CoordinatorOptions } from '../../lib/coordinator.js';
import { CoordinatorClient } from '../../lib/coordinator_client.js';
import { viewerToken } from '../../lib/hmac_auth.js';

const TOKEN = 'c'.repeat(64);

async function start(t: ExecutionContext, opts: Partial<CoordinatorOptions> = {}): Promise<{ coord: Coordinator; base: string; logs: string[] }> {
  const logs: string[] = [];
  const coord = await Coordinator.start({ token: TOKEN, log: (l) => logs.push(l), ...opts });
  t.teardown(() => coord.close());
  return { coord, base: `http://127.0.0.1:${coord.port}`, logs };
}

/** A two-rank rendezvous through `coord`: the proof that it still works after the abuse. */
async function rendezvous(t: ExecutionContext, coord: Coordinator): Promise<void> {
  const clients = await Promise.all([0, 1].map((rank) => CoordinatorClient.connect({ host: '127.0.0.1', port: coord.port }, { token: TOKEN, rank, size: 2, timeoutMs: 20_000 })));
  try {
    const tables = await Promise.all(clients.map((c, rank) => c.register('world', 2, rank, { host: '127.0.0.1', port: 31000 + rank }, 20_000)));
    t.deepEqual(tables[0]?.map((p) => p.port), [31000, 31001]);
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
}

/** Opens a WebSocket to the rank endpoint that never says hello; resolves with its close code. */
function silentSocket(port: number, path = '/v1/ws'): { opened: Promise<void>; closed: Promise<number> } {
  const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`);
  const opened = new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once('error', reject);
  });
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  opened.catch(() => undefined);
  return { opened, closed };
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: nothing after ${ms} ms`)), ms)))]).finally(() => clearTimeout(timer));
}

const MALFORMED_TOKENS = ['%25', '%', '%zz', '%E0%A4%A', '%00', 'a%00b', '%2525', '%C0%AF', '+', `${'%'.repeat(3000)}`, 'x'.repeat(5000), encodeURIComponent(TOKEN.slice(1))];
const ROUTES: Array<[string, string]> = [
  ['GET', '/'],
  ['GET', '/metrics'],
  ['GET', '/api/state'],
  ['GET', '/api/trace'],
  ['POST', '/v1/admin/ps/add-server'],
  ['POST', '/v1/admin/ps/remove-server'],
];

test('malformed tokens on every route answer 401 and the coordinator keeps serving', async (t) => {
  t.timeout(120_000);
  const { coord, base } = await start(t);
  const statuses = new Set<number>();
  for (const [method, path] of ROUTES) {
    for (const token of MALFORMED_TOKENS) {
      const res = await fetch(`${base}${path}?token=${token}`, { method });
      await res.arrayBuffer();
      t.is(res.status, 401, `${method} ${path}?token=${token.slice(0, 40)}`);
      statuses.add(res.status);
    }
    for (const header of ['Bearer', 'Bearer ', 'Bearer %25', `Basic ${TOKEN}`, `Bearer ${TOKEN}x`, `Bearer ${'y'.repeat(2000)}`]) {
      const res = await fetch(`${base}${path}`, { method, headers: { authorization: header } });
      await res.arrayBuffer();
      t.is(res.status, 401, `${method} ${path} Authorization: ${header.slice(0, 40)}`);
    }
  }
  t.deepEqual([...statuses], [401]);
  for (const token of MALFORMED_TOKENS) {
    const feed = silentSocket(coord.port, `/v1/feed?token=${token}`);
    await t.throwsAsync(feed.opened, { message: 'HTTP 401' }, `feed ?token=${token.slice(0, 40)}`);
  }
  t.is((await fetch(`${base}/v1/health`)).status, 200);
  await rendezvous(t, coord);
});

test('the viewer token reads the dashboard and /metrics but not the admin routes', async (t) => {
  t.timeout(60_000);
  const { base } = await start(t);
  const viewer = viewerToken(TOKEN);
  t.not(viewer, TOKEN);
  const metrics = await fetch(`${base}/metrics?token=${viewer}`);
  t.is(metrics.status, 200);
  t.regex(await metrics.text(), /shoal_/);
  t.is((await fetch(`${base}/api/state`, { headers: { authorization: `Bearer ${viewer}` } })).status, 200);
  t.is((await fetch(`${base}/`, { headers: { authorization: `bearer ${viewer}` } })).status, 200);
  const asViewer = await fetch(`${base}/v1/admin/ps/add-server`, { method: 'POST', headers: { authorization: `Bearer ${viewer}` } });
  t.is(asViewer.status, 403);
  t.regex(await asViewer.text(), /read-only/);
  // The job secret passes the check; this coordinator has no launcher to act, hence 501.
  const asJob = await fetch(`${base}/v1/admin/ps/add-server`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
  t.is(asJob.status, 501);
  // The viewer token is not a rank's secret either.
  await t.throwsAsync(CoordinatorClient.connect({ host: '127.0.0.1', port: Number(new URL(base).port) }, { token: viewer, rank: 0, size: 1, timeoutMs: 5000 }), { message: /wrong SHOAL_TOKEN/ });
});

test('a large request body to an admin route is not buffered: 401, and the coordinator keeps serving', async (t) => {
  t.timeout(60_000);
  const { coord, base } = await start(t);
  const body = new Uint8Array(32 * 1024 * 1024);
  const res = await fetch(`${base}/v1/admin/ps/add-server?token=%25`, { method: 'POST', body }).catch((err: Error) => err);
  // uWS answers before the body is sent and may close the socket under the upload.
  if (res instanceof Response) t.is(res.status, 401);
  else t.pass(`connection closed during the upload: ${res.message}`);
  t.is((await fetch(`${base}/v1/health`)).status, 200);
  await rendezvous(t, coord);
});

test('300 silent WebSocket connections are closed at the hello deadline', async (t) => {
  t.timeout(120_000);
  const { coord, logs } = await start(t, { helloTimeoutMs: 1000 });
  const sockets = Array.from({ length: 300 }, () => silentSocket(coord.port));
  await withTimeout(Promise.all(sockets.map((s) => s.opened)), 60_000, 'opening 300 sockets');
  const codes = await withTimeout(Promise.all(sockets.map((s) => s.closed)), 60_000, 'closing 300 silent sockets');
  t.deepEqual([...new Set(codes)], [4001]);
  t.true(logs.some((l) => /no hello within 1000 ms/.test(l)), logs.join('\n'));
  // Rate-limited: 300 closures do not make 300 log lines.
  t.true(logs.filter((l) => /no hello within/.test(l)).length < 300);
  await rendezvous(t, coord);
});

test('connections owing their hello beyond maxUnauthenticated are refused with 503', async (t) => {
  t.timeout(60_000);
  const { coord } = await start(t, { helloTimeoutMs: 3000, maxUnauthenticated: 5 });
  const waiting = Array.from({ length: 5 }, () => silentSocket(coord.port));
  await withTimeout(Promise.all(waiting.map((s) => s.opened)), 30_000, 'opening 5 sockets');
  await t.throwsAsync(silentSocket(coord.port).opened, { message: 'HTTP 503' });
  await withTimeout(Promise.all(waiting.map((s) => s.closed)), 30_000, 'hello deadline');
  // The slots are free again once the silent ones were closed.
  await rendezvous(t, coord);
});

test('an oversized, binary or non-hello first message closes that connection only', async (t) => {
  t.timeout(60_000);
  const { coord } = await start(t);
  const firstMessages: Array<string | Buffer> = ['x'.repeat(100_000), Buffer.from([1, 2, 3]), '{"type":"register","id":1}', 'null', '[]', '{"type":"hello","rank":"0"}', '{"type":"hello","rank":0,"proof":"zz"}'];
  for (const first of firstMessages) {
    const ws = new WebSocket(`ws://127.0.0.1:${coord.port}/v1/ws`);
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    await new Promise<void>((resolve) => ws.once('message', () => resolve()));  // the challenge
    ws.send(first);
    t.is(await withTimeout(closed, 20_000, 'close after a bad first message'), 4001, String(first).slice(0, 40));
  }
  await rendezvous(t, coord);
});
