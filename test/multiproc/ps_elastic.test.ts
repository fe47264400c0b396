// Elastic parameter servers: a server added to a running job copies only the key ranges it
// takes over and joins; a drained server hands its keys over and exits 0; no acknowledged push
// is lost either way, and bad requests get clear errors. Serial: each job is 6-7 processes.
import test from 'ava';

import { runRanks } from '../helpers/run_job.js';
import { native } from '../../lib/native.js';
import type { JobHandle } from '../../lib/launcher.js';

interface Result {
  rank: number;
  acked: number;
  total: number;
  wrong: number;
  violations?: number;
  servers?: Array<{ rank: number; counts: number; keys: number; syncedRows: number; rowsSent: number; rowsPruned: number }>;
}

const KEYS = 2000;

async function elasticJob(
  t: import('ava').ExecutionContext,
  scenario: string,
  servers: number,
  act: (job: JobHandle, line: string) => void,
): Promise<{ results: Result[]; serverLines: string[] }> {
  let job: JobHandle | undefined;
  const serverLines: string[] = [];
  const run = await runRanks(3, 'workers/ps_elastic.worker.js', [scenario], {
    servers,
    replication: 2,
    wallTimeoutMs: 150_000,
    env: { SHOAL_PS_TIMEOUT_MS: '60000', SHOAL_TEST_KEYS: String(KEYS) },
    onStart: (j) => (job = j),
    onLine: (rank, _stream, line) => {
      if (rank < 0) serverLines.push(`[server ${-1 - rank}] ${line}`);
      if (rank === 0 && line.startsWith('ELASTIC ')) act(job!, line);
    },
  });
  const output = `${run.result.summary}\n${run.output.map((l, r) => `[${r}] ${l.join('\n')}`).join('\n')}\n${serverLines.join('\n')}`;
  t.false(run.timedOut, `job hit the wall-clock limit\n${output}`);
  t.true(run.result.ok, output);
  const results = run.stdout.map((lines) => lines.filter((l) => l.startsWith('RESULT ')).map((l) => JSON.parse(l.slice(7)) as Result)[0]);
  t.is(results.filter(Boolean).length, 3, `every worker reports\n${output}`);
  return { results: results as Result[], serverLines };
}

test.serial('add-server while workers push: every key equals the acknowledged total; the new server copied only its share', async (t) => {
  t.timeout(180_000);
  let added = -1;
  const { results, serverLines } = await elasticJob(t, 'add', 2, (job) => (added = job.addServer()));
  t.is(added, 2);
  const total = results.reduce((n, r) => n + r.acked, 0);
  for (const r of results) {
    t.is(r.total, total);
    t.is(r.wrong, 0, `keys differing from the acknowledged total: ${JSON.stringify(r)}`);
  }
  const servers = results[0]!.servers!;
  const info = JSON.stringify({ servers, serverLines });
  const k = servers.find((s) => s.rank === 2);
  t.truthy(k, info);
  // 3 servers, 2 copies: the new one owns about 2/3 of the keys; it copied those and no others.
  t.true(k!.counts > KEYS * 0.5 && k!.counts < KEYS * 0.85, info);
  t.true(k!.syncedRows <= k!.keys && k!.syncedRows >= k!.counts * 0.9, info);
  // Every key still on exactly 2 servers: the old owners dropped the copies they no longer own.
  t.is(servers.reduce((n, s) => n + s.counts, 0), 2 * KEYS, info);
  t.true(serverLines.some((l) => /parameter server 2 joined: copied \d+ rows/.test(l)), info);
});

test.serial('BSP goes on across an add: the new server learns the workers\' clocks, every pull sees every push', async (t) => {
  t.timeout(180_000);
  const { results } = await elasticJob(t, 'add-bsp', 2, (job) => job.addServer());
  for (const r of results) {
    t.is(r.violations, 0, JSON.stringify(r));
    t.is(r.wrong, 0, JSON.stringify(r));
  }
});

test.serial('remove-server (drain) while workers push: exact totals, server 1 exits 0, every key still on 2 servers', async (t) => {
  t.timeout(180_000);
  const errors: string[] = [];
  const { results, serverLines } = await elasticJob(t, 'remove', 3, (job) => {
    // Bad input first: a server index the job does not have.
    try {
      job.removeServer(9);
    } catch (err) {
      errors.push((err as Error).message);
    }
    job.removeServer(1);
  });
  t.regex(errors[0] ?? '', /no running parameter server 9/);
  const total = results.reduce((n, r) => n + r.acked, 0);
  for (const r of results) {
    t.is(r.total, total);
    t.is(r.wrong, 0, `keys differing from the acknowledged total: ${JSON.stringify(r)}`);
  }
  const servers = results[0]!.servers!;
  const info = JSON.stringify({ servers, serverLines });
  t.deepEqual(servers.map((s) => s.rank).sort(), [0, 2], info);
  t.is(servers.reduce((n, s) => n + s.counts, 0), 2 * KEYS, info);
  t.true(serverLines.some((l) => /parameter server 1 drained: the other servers copied \d+ rows/.test(l)), info);
});

test.serial('bad input: draining the last server, or a server index out of range, fails clearly', async (t) => {
  t.timeout(30_000);
  type Server = { port: number; start(s: Array<{ host: string; port: number } | null>): void; drain(): void; drainStatus(): string; serverLeft(r: number): void; serverAdded(r: number): void; stop(): void };
  type Client = { serverLeft(r: number): void; close(): Promise<void> };
  const { NativePsServer, NativePsClient } = native as unknown as { NativePsServer: new (o: object) => Server; NativePsClient: new (o: object) => Client };
  const server = new NativePsServer({ rank: 0, numServers: 1, numWorkers: 1, token: 't', replication: 1 });
  try {
    server.start([{ host: '127.0.0.1', port: server.port }]);
    server.drain();
    let status: { state: string; error?: string } = { state: 'draining' };
    for (let i = 0; i < 200 && status.state === 'draining'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      status = JSON.parse(server.drainStatus()) as typeof status;
    }
    t.is(status.state, 'failed');
    t.regex(status.error ?? '', /cannot remove parameter server 0: it is the last parameter server of the job/);
    t.throws(() => server.serverLeft(3), { instanceOf: RangeError, message: /serverLeft: server index 3 is out of range/ });
    t.throws(() => server.serverAdded(-2), { instanceOf: RangeError, message: /serverAdded: server index -2 is out of range/ });
  } finally {
    server.stop();
  }
  // Two servers, two copies: draining one would leave one copy.
  const a = new NativePsServer({ rank: 0, numServers: 2, numWorkers: 1, token: 't', replication: 2 });
  const b = new NativePsServer({ rank: 1, numServers: 2, numWorkers: 1, token: 't', replication: 2 });
  try {
    const addrs = [{ host: '127.0.0.1', port: a.port }, { host: '127.0.0.1', port: b.port }];
    a.start(addrs);
    b.start(addrs);
    b.drain();
    let status: { state: string; error?: string } = { state: 'draining' };
    for (let i = 0; i < 200 && status.state === 'draining'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      status = JSON.parse(b.drainStatus()) as typeof status;
    }
    t.is(status.state, 'failed');
    t.regex(status.error ?? '', /cannot remove parameter server 1: the job would keep 1 server\(s\) for 2 copies of each key/);
  } finally {
    a.stop();
    b.stop();
  }
  const client = new NativePsClient({ workerRank: 0, numWorkers: 1, numServers: 2, token: 't' });
  t.throws(() => client.serverLeft(2), { instanceOf: RangeError, message: /serverLeft: server index 2 is out of range: the job has 2 servers/ });
  await client.close();
});
