// Seeded, bounded fuzzing of a real coordinator (in this process: an uncaught exception in a
// handler or timer would end the test run) over real sockets on 127.0.0.1:
//  - strangers: connections whose first frame is random bytes, random JSON or a mutated hello;
//  - an authenticated rank sending thousands of random and mutated protocol messages;
//  - HTTP requests with random paths, query strings and Authorization headers.
// Afterwards the coordinator must still serve a legitimate rendezvous, and no handler may
// have thrown (the coordinator logs "closing that connection" / "answered 500" when one does).
// Reproduce a failure with SHOAL_FUZZ_SEED=<seed printed in the log>.

import test from 'ava';
import WebSocket from 'ws';

import { Rng } from '../helpers/mulberry_rng.js';
import { Coordinator } from '../../lib/coordinator.js';
import { CoordinatorClient } from '../../lib/coordinator_client.js';
import { COORDINATOR_WS_PATH, HEARTBEAT_INTERVAL_MS } from '../../lib/coordinator_protocol.js';
import { coordinatorProof, viewerToken } from '../../lib/hmac_auth.js';

const TOKEN = 'fa'.repeat(32);
const SEED = Number(process.env.SHOAL_FUZZ_SEED ?? 20261204);
const STRANGERS = 400;
const RANK_MESSAGES = 3000;
const HTTP_REQUESTS = 600;
/** The job the fuzzing rank claims to be part of; two legitimate ranks join it afterwards. */
const JOB_SIZE = 3;

/** Values that break naive validation: wrong types, bounds, huge, negative, special keys. */
const NASTY: unknown[] = [
  null, true, false, 0, -1, 1, 2, 0.5, -0.5, 65535, 65536, 2 ** 21, 2 ** 31, 2 ** 32, 2 ** 53, -(2 ** 53), 1e308, -1e308,
  '', '0', '1', 'world', 'world#1', 'world#99999999999999999999', 'x'.repeat(300), 'x'.repeat(70_000), '\u0000', '\ud800', '%25', '../../etc/passwd',
  [], [1, 2], [{}], {}, { rank: 0, host: 'h', port: 1 }, { __proto__: { polluted: true } }, { constructor: { prototype: { polluted: true } } },
];

/** Well-formed messages of every client type, for rank 0 of the fuzzing job. */
function validMessages(): Array<Record<string, unknown>> {
  return [
    { type: 'heartbeat' },
    { type: 'register', id: 1, group: 'g', groupSize: 2, groupRank: 0, host: '127.0.0.1', port: 40000, timeoutMs: 500 },
    { type: 'lookup', id: 2, group: 'g', timeoutMs: 300 },
    { type: 'waitEpoch', id: 3, after: 0, timeoutMs: 300 },
    { type: 'rejoin', id: 4, group: 'g', groupRank: 0, host: '127.0.0.1', port: 40001 },
    { type: 'extend', id: 5, group: 'g', host: '127.0.0.1', port: 40002 },
    { type: 'leave', id: 6, group: 'g', groupRank: 1 },
    { type: 'metrics', data: { op: 'allReduce', seq: 3, collectiveMs: 1.5, psMs: 0, values: { loss: 0.3 }, finished: [{ op: 'allReduce', seq: 2, ms: 1 }] } },
    { type: 'hello', rank: 0, size: JOB_SIZE, role: 'worker', pid: 1, host: 'h', proof: '0'.repeat(64) },
  ];
}

function pick<T>(rng: Rng, items: readonly T[]): T {
  return items[rng.int(items.length)] as T;
}

/** A deeply nested value (a stack-depth probe for the parser and every consumer). */
function nested(depth: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = i % 2 ? [v] : { a: v };
  return v;
}

/** Replaces, removes or adds fields of a valid message with nasty values. */
function mutateObject(rng: Rng, msg: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...msg };
  const edits = 1 + rng.int(3);
  for (let i = 0; i < edits; i++) {
    const keys = Object.keys(out);
    const key = rng.next() < 0.8 && keys.length > 0 ? pick(rng, keys) : pick(rng, ['type', 'id', 'extra', '__proto__', 'constructor', 'data']);
    const r = rng.next();
    if (r < 0.15) delete out[key];
    else if (r < 0.2) out[key] = nested(1 + rng.int(1000));
    else out[key] = pick(rng, NASTY);
  }
  return out;
}

/** Damages the text of a message: truncation, a flipped character, or repetition. */
function mutateText(rng: Rng, text: string): string {
  const r = rng.next();
  const at = rng.int(text.length + 1);
  if (r < 0.4) return text.slice(0, at);
  if (r < 0.8) return text.slice(0, at) + String.fromCharCode(rng.int(0x3000)) + text.slice(at + 1);
  return text.repeat(1 + rng.int(50));
}

function randomBytes(rng: Rng, max: number): Buffer {
  const b = Buffer.alloc(rng.int(max + 1));
  for (let i = 0; i < b.length; i++) b[i] = rng.int(256);
  return b;
}

/** One fuzzed frame: mostly mutated valid messages, some damaged text, some raw bytes. */
function fuzzFrame(rng: Rng, base: Record<string, unknown>): string | Buffer {
  const r = rng.next();
  if (r < 0.6) return JSON.stringify(mutateObject(rng, base));
  if (r < 0.8) return mutateText(rng, JSON.stringify(base));
  if (r < 0.85) return randomBytes(rng, 2048);
  // Nesting deeper than JSON.stringify can build: the parser's (and every consumer's) stack.
  if (r < 0.9) return `{"type":"metrics","data":${'['.repeat(1 + rng.int(200_000))}`;
  return randomBytes(rng, 512).toString('latin1');
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: nothing after ${ms} ms`)), ms)))]).finally(() => clearTimeout(timer));
}

/** Opens a rank socket and waits for the coordinator's challenge nonce. */
async function openWithChallenge(port: number): Promise<{ ws: WebSocket; nonce: string; closed: Promise<number> }> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}${COORDINATOR_WS_PATH}`);
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  const nonce = await withTimeout(
    new Promise<string>((resolve, reject) => {
      ws.once('message', (data) => resolve(String((JSON.parse(String(data)) as { nonce: string }).nonce)));
      ws.once('error', reject);
    }),
    30_000,
    'challenge',
  );
  return { ws, nonce, closed };
}

test(`fuzzed rank messages and HTTP requests leave the coordinator serving (seed ${SEED})`, async (t) => {
  t.timeout(300_000);
  t.log(`seed ${SEED}: ${STRANGERS} strangers, ${RANK_MESSAGES} rank messages, ${HTTP_REQUESTS} HTTP requests`);
  const rng = new Rng(SEED);
  const logs: string[] = [];
  const coord = await Coordinator.start({ token: TOKEN, log: (l) => logs.push(l) });
  t.teardown(() => coord.close());
  const rssBefore = process.memoryUsage().rss;
  const started = Date.now();

  // An authenticated rank 0 that sends fuzz once the strangers are done.
  const rank = await openWithChallenge(coord.port);
  const answers: Array<{ type: string; code?: string }> = [];
  rank.ws.on('message', (data) => answers.push(JSON.parse(String(data)) as { type: string; code?: string }));
  rank.ws.send(JSON.stringify({ type: 'hello', rank: 0, size: JOB_SIZE, role: 'worker', pid: process.pid, host: '127.0.0.1', proof: coordinatorProof(TOKEN, rank.nonce, 0) }));
  await withTimeout(new Promise<void>((resolve) => rank.ws.once('message', () => resolve())), 30_000, 'welcome');
  t.is(answers[0]?.type, 'welcome');
  // It heartbeats like a real rank until it closes. The strangers alone take 8 s on an idle
  // machine; under load they passed the 10 s heartbeat timeout, rank 0 was declared lost, and the
  // next stranger's hello (rank 0's proof) took over its free slot instead of being turned away.
  const beat = setInterval(() => rank.ws.send(JSON.stringify({ type: 'heartbeat' })), HEARTBEAT_INTERVAL_MS);
  t.teardown(() => clearInterval(beat));

  // Strangers: each sends one fuzzed first frame, based on a hello with a correct proof.
  const strangerCodes = new Map<number, number>();
  for (let i = 0; i < STRANGERS; i++) {
    const s = await openWithChallenge(coord.port);
    const hello = { type: 'hello', rank: 0, size: JOB_SIZE, role: 'worker', pid: 1, host: 'h', proof: coordinatorProof(TOKEN, s.nonce, 0) };
    s.ws.send(fuzzFrame(rng, hello));
    const code = await withTimeout(s.closed, 30_000, `stranger ${i} close`);
    strangerCodes.set(code, (strangerCodes.get(code) ?? 0) + 1);
  }
  // Every stranger was turned away (rank 0 is taken by the fuzzing rank, other ranks fail the proof).
  t.deepEqual([...strangerCodes.keys()], [4001], JSON.stringify([...strangerCodes]));

  t.log(`strangers done after ${Date.now() - started} ms`);
  // The authenticated rank: thousands of mutated messages of every type, in bursts.
  const valid = validMessages();
  for (let i = 0; i < RANK_MESSAGES; i++) {
    rank.ws.send(fuzzFrame(rng, pick(rng, valid)));
    if (i % 100 === 99) await new Promise<void>((resolve) => rank.ws.send(JSON.stringify({ type: 'heartbeat' }), () => resolve()));
  }
  // A round trip after the last frame: the coordinator has handled everything before it.
  rank.ws.send(JSON.stringify({ type: 'lookup', id: 999_999, group: 'never-completed', timeoutMs: 1 }));
  await withTimeout(
    new Promise<void>((resolve) => {
      const check = (): void => (answers.some((a) => (a as { id?: number }).id === 999_999) ? resolve() : void setTimeout(check, 50));
      check();
    }),
    60_000,
    'answer to the last message',
  );
  t.is(rank.ws.readyState, WebSocket.OPEN, 'bad messages from an authenticated rank get errors, not a closed connection');
  t.true(answers.filter((a) => a.type === 'error' || a.type === 'registerError').length > RANK_MESSAGES / 10, 'the fuzz reached the handlers');
  clearInterval(beat);
  rank.ws.close();
  t.log(`rank messages done after ${Date.now() - started} ms`);

  // HTTP: random routes, query strings and credentials. Nothing may answer 500.
  const base = `http://127.0.0.1:${coord.port}`;
  const routes: Array<[string, string]> = [['GET', '/'], ['GET', '/metrics'], ['GET', '/api/state'], ['GET', '/api/trace'], ['GET', '/v1/health'], ['POST', '/v1/admin/ps/add-server'], ['POST', '/v1/admin/ps/remove-server']];
  const oddPaths = ['/v1/ws', '/v1/feed', '/nope', '/%', '/..%2f..', '//', '/metrics/', '/api'];
  const tokens = ['', TOKEN, viewerToken(TOKEN), '%', '%25', '%zz', 'x'.repeat(3000), '%00', '%ED%A0%80'];
  const statuses = new Map<number, number>();
  for (let i = 0; i < HTTP_REQUESTS; i++) {
    const query = Array.from({ length: rng.int(4) }, () => `${pick(rng, ['token', 'server', 'x', '%', ''])}=${pick(rng, [...tokens, String(pick(rng, NASTY)).slice(0, 200)])}`).join('&');
    const headers: Record<string, string> = rng.next() < 0.3 ? { authorization: `${pick(rng, ['Bearer ', 'bearer ', 'Basic ', ''])}${pick(rng, tokens)}` } : {};
    // Mostly the real routes with their methods, so requests get past routing to the handlers.
    const [method, path] = rng.next() < 0.8 ? pick(rng, routes) : [pick(rng, ['GET', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'HEAD']), pick(rng, [...oddPaths, ...routes.map((r) => r[1])])];
    const body = method === 'POST' && rng.next() < 0.3 ? randomBytes(rng, 64 * 1024) : undefined;
    const res = await fetch(`${base}${path}${query ? `?${query}` : ''}`, { method, headers, ...(body ? { body } : {}) }).catch((err: Error) => err);
    const status = res instanceof Response ? res.status : -1;
    if (res instanceof Response) await res.arrayBuffer();
    statuses.set(status, (statuses.get(status) ?? 0) + 1);
  }
  t.log(`HTTP statuses: ${JSON.stringify(Object.fromEntries(statuses))}`);
  t.false(statuses.has(500), 'no handler threw');
  t.false(statuses.has(-1), 'every request got an answer');

  // No handler or timer threw anywhere during the run.
  t.deepEqual(logs.filter((l) => /closing that connection|answered 500|sweep failed/.test(l)), []);

  // The coordinator still does its job: the other two ranks of the job meet.
  t.is((await fetch(`${base}/v1/health`)).status, 200);
  const clients = await Promise.all([1, 2].map((r) => CoordinatorClient.connect({ host: '127.0.0.1', port: coord.port }, { token: TOKEN, rank: r, size: JOB_SIZE, timeoutMs: 30_000 })));
  t.teardown(() => Promise.all(clients.map((c) => c.close())));
  const tables = await Promise.all(clients.map((c, i) => c.register('after-fuzz', 2, i, { host: '127.0.0.1', port: 41000 + i }, 30_000)));
  t.deepEqual(tables[1]?.map((p) => p.port), [41000, 41001]);
  t.log(`ran in ${Date.now() - started} ms; rss ${Math.round(rssBefore / 2 ** 20)} -> ${Math.round(process.memoryUsage().rss / 2 ** 20)} MiB`);
});
