// Shoal jobs launched by a real Slurm (munged + slurmctld + slurmd on 127.0.0.1, brought up
// by test/helpers/slurm_cluster.ts): rank and size come from SLURM_PROCID/SLURM_NTASKS, rank 0
// hosts the coordinator at SHOAL_COORDINATOR (docs/launching.md, "Slurm"). Serial: one cluster
// for the file, one job at a time on this small machine.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';

import anyTest, { type ExecutionContext, type TestFn } from 'ava';

import { freePort } from '../helpers/free_port.js';
import { slurmUnavailable, startSlurmCluster, type SlurmCluster } from '../helpers/slurm_cluster.js';

const test = anyTest as TestFn<{ cluster?: SlurmCluster }>;
const unavailable = slurmUnavailable();
// CI (.ci/run, root on Debian 12) installs slurm-wlm and munge and sets SHOAL_REQUIRE_SLURM=1:
// there a missing Slurm fails instead of skipping.
const required = Boolean(process.env.CI) || process.env.SHOAL_REQUIRE_SLURM === '1';
const skipping = unavailable !== null && !required;
type Impl = (t: ExecutionContext<{ cluster?: SlurmCluster }>) => Promise<void>;
const run = (title: string, impl: Impl): void => {
  if (skipping) test.serial.skip(`${title} (skipped: ${unavailable})`, impl);
  else test.serial(title, impl);
};

const fixture = (name: string): string => fileURLToPath(new URL(`../../../test/fixtures/${name}`, import.meta.url));
const NTASKS = 4;

interface RankResult {
  rank: number;
  size: number;
  procid: number;
  ntasks: number;
  launcher: string;
  hostsCoordinator: boolean;
  sum: number[];
  max: number[];
  bcast: number[];
  gathered: number[];
}

/** Checks every rank's RESULT line against the values the fixture's inputs must give. */
function checkResults(t: { is: (a: unknown, b: unknown, m?: string) => void; deepEqual: (a: unknown, b: unknown, m?: string) => void }, out: string, n: number): void {
  const results = out
    .split('\n')
    .map((l) => l.replace(/^\d+: /, ''))
    .filter((l) => l.startsWith('RESULT '))
    .map((l) => JSON.parse(l.slice('RESULT '.length)) as RankResult)
    .sort((a, b) => a.rank - b.rank);
  t.deepEqual(results.map((r) => r.rank), Array.from({ length: n }, (_, i) => i), out);
  const gathered = Array.from({ length: n }, (_, i) => [i * 10, i + 0.5]).flat();
  for (const r of results) {
    t.is(r.launcher, 'slurm', out);
    t.is(r.procid, r.rank, out);
    t.is(r.size, n, out);
    t.is(r.ntasks, n, out);
    t.is(r.hostsCoordinator, r.rank === 0, out);
    t.deepEqual(r.sum, [(n * (n + 1)) / 2, n * (n - 1), -(n * (n - 1)) / 2], out);
    t.deepEqual(r.max, [3 * (n - 1), 0], out);
    t.deepEqual(r.bcast, [7, 8, 9, n - 1], out);
    t.deepEqual(r.gathered, gathered, out);
  }
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  out: string;
  /** True when our bound had to kill the command. */
  killed: boolean;
  ms: number;
}

/** Runs a Slurm client command (srun, sbatch) to completion, SIGKILLed after `boundMs`. */
async function runBounded(cluster: SlurmCluster, cmd: string, args: string[], extraEnv: Record<string, string>, boundMs: number): Promise<Exit> {
  const started = Date.now();
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: cluster.env(extraEnv) });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  let killed = false;
  const timer = setTimeout(() => {
    killed = true;
    child.kill('SIGKILL');
  }, boundMs);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])));
  clearTimeout(timer);
  return { code, signal, out, killed, ms: Date.now() - started };
}

async function shoalEnv(): Promise<Record<string, string>> {
  return { SHOAL_COORDINATOR: `127.0.0.1:${await freePort()}`, SHOAL_TOKEN: randomBytes(32).toString('hex'), SHOAL_TIMEOUT_MS: '60000' };
}

test.before(async (t) => {
  if (skipping) return;
  t.timeout(150_000);
  if (unavailable !== null) throw new Error(`the Slurm tests must run here (CI or SHOAL_REQUIRE_SLURM=1): ${unavailable}`);
  const cluster = await startSlurmCluster({ cpus: 8, startTimeoutMs: 120_000 });
  t.context.cluster = cluster;
  t.log(`Slurm cluster up in ${cluster.setupMs} ms (node ${cluster.node}, ${cluster.dir})`);
});

test.after.always('stop the Slurm cluster', async (t) => {
  await t.context.cluster?.stop();
});

run(`srun -n ${NTASKS}: allReduce, bcast and allGather give the known results`, async (t) => {
  t.timeout(200_000);
  const cluster = t.context.cluster!;
  const r = await runBounded(cluster, 'srun', ['-n', String(NTASKS), '-l', process.execPath, fixture('slurm_collectives.mjs')], await shoalEnv(), 180_000);
  t.false(r.killed, `srun did not finish within 180 s\n${r.out}\n${cluster.logs()}`);
  t.is(r.code, 0, `${r.out}\n${cluster.logs()}`);
  checkResults(t, r.out, NTASKS);
});

run(`sbatch -n ${NTASKS}: a batch script running srun gives the same results`, async (t) => {
  t.timeout(200_000);
  const cluster = t.context.cluster!;
  const script = join(cluster.dir, 'collectives.sbatch');
  const output = join(cluster.dir, 'collectives.out');
  // SHOAL_COORDINATOR and SHOAL_TOKEN come from sbatch's environment (--export=ALL, the default).
  writeFileSync(script, `#!/bin/sh\nexec srun -l ${JSON.stringify(process.execPath)} ${JSON.stringify(fixture('slurm_collectives.mjs'))}\n`, { mode: 0o755 });
  const submit = cluster.run('sbatch', ['--parsable', '-n', String(NTASKS), '-o', output, script], 30_000, await shoalEnv());
  const jobId = submit.trim().split(';')[0]!;
  t.regex(jobId, /^\d+$/, submit);
  const until = Date.now() + 180_000;
  let state = '';
  let show = '';
  while (Date.now() < until) {
    show = cluster.run('scontrol', ['show', 'job', '-o', jobId]);
    state = /JobState=(\S+)/.exec(show)?.[1] ?? '';
    if (!['PENDING', 'CONFIGURING', 'RUNNING', 'COMPLETING', ''].includes(state)) break;
    await delay(500);
  }
  const out = existsSync(output) ? readFileSync(output, 'utf8') : `(no output file ${output})`;
  t.is(state, 'COMPLETED', `${show}\n${out}\n${cluster.logs()}`);
  t.regex(show, /\bExitCode=0:0\b/, show);
  checkResults(t, out, NTASKS);
});

run('srun: a task SIGKILLed mid-allReduce makes the others fail with PeerLostError naming it, and srun ends', async (t) => {
  t.timeout(200_000);
  const cluster = t.context.cluster!;
  const victim = 2;
  const r = await runBounded(cluster, 'srun', ['-n', String(NTASKS), '-l', process.execPath, fixture('slurm_kill_rank.mjs'), String(victim)], await shoalEnv(), 150_000);
  t.false(r.killed, `srun did not end within 150 s after task ${victim} was killed\n${r.out}\n${cluster.logs()}`);
  t.not(r.code, 0, r.out);
  t.regex(r.out, new RegExp(`^${victim}: KILLING rank ${victim} `, 'm'), r.out);
  const lost = r.out
    .split('\n')
    .map((l) => /^(\d+): LOST (.*)$/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ task: Number(m[1]), ...(JSON.parse(m[2]!) as { rank: number; peerLost: boolean; name: string; code: string; peer: number; message: string }) }))
    .sort((a, b) => a.rank - b.rank);
  t.deepEqual(
    lost.map((l) => l.rank),
    Array.from({ length: NTASKS }, (_, i) => i).filter((i) => i !== victim),
    r.out,
  );
  for (const l of lost) {
    t.is(l.task, l.rank, r.out);
    t.true(l.peerLost, `rank ${l.rank} failed with ${l.name} (${l.code}), not PeerLostError: ${l.message}`);
    t.is(l.peer, victim, `rank ${l.rank}: ${l.message}`);
    t.regex(l.message, new RegExp(`\\b${victim}\\b`), `rank ${l.rank}: ${l.message}`);
  }
  t.notRegex(r.out, /NOFAIL/, r.out);
  t.log(`srun ended ${r.ms} ms after it started (exit ${r.code}); rank 0 got: ${lost[0]?.name}: ${lost[0]?.message}`);
});

/** "RESULT {json}" lines of an `srun -l` run (task prefix dropped), by worker rank. */
function psResults(out: string): Array<Record<string, unknown>> {
  return out
    .split('\n')
    .map((l) => l.replace(/^\d+: /, ''))
    .filter((l) => l.startsWith('RESULT '))
    .map((l) => JSON.parse(l.slice('RESULT '.length)) as Record<string, unknown>)
    .sort((a, b) => Number(a['rank']) - Number(b['rank']));
}

run(`srun -n ${NTASKS} with SHOAL_NUM_SERVERS=2: tasks 0-1 are parameter servers, workers 0-1 push and pull exact sums`, async (t) => {
  t.timeout(200_000);
  const cluster = t.context.cluster!;
  const r = await runBounded(cluster, 'srun', ['-n', String(NTASKS), '-l', process.execPath, fixture('ps_foreign.mjs'), 'sums'], { ...(await shoalEnv()), SHOAL_NUM_SERVERS: '2' }, 180_000);
  t.false(r.killed, `srun did not finish within 180 s\n${r.out}\n${cluster.logs()}`);
  t.is(r.code, 0, `${r.out}\n${cluster.logs()}`);
  const results = psResults(r.out);
  t.deepEqual(results.map((x) => [x['rank'], x['size'], x['task'], x['role'], x['bad'], x['servers']]), [[0, 2, 2, 'worker', 0, 2], [1, 2, 3, 'worker', 0, 2]], r.out);
  for (const server of [0, 1]) t.regex(r.out, new RegExp(`^${server}: \\[shoal\\] parameter server ${server}: all 2 workers finished; stopping`, 'm'), r.out);
});

run('srun, 2 servers with replication 2: a server task SIGKILLed mid-job, the workers fail over and finish with exact sums; srun reports the killed task', async (t) => {
  t.timeout(200_000);
  const cluster = t.context.cluster!;
  // 200 rounds 20 ms apart; worker 0 kills server 1 (task 1) at round 20.
  const r = await runBounded(cluster, 'srun', ['-n', String(NTASKS), '-l', process.execPath, fixture('ps_foreign.mjs'), 'failover', '1', '200'], { ...(await shoalEnv()), SHOAL_NUM_SERVERS: '2' }, 180_000);
  t.false(r.killed, `srun did not end within 180 s\n${r.out}\n${cluster.logs()}`);
  t.regex(r.out, /^2: KILLING server 1 pid \d+/m, r.out);
  const results = psResults(r.out);
  t.deepEqual(results.map((x) => x['rank']), [0, 1], r.out);
  for (const x of results) {
    t.is(x['acked'], 200, r.out);
    t.is(x['total'], 400, r.out);
    t.is(x['wrong'], 0, `worker ${x['rank']}: keys that differ from the acknowledged pushes\n${r.out}`);
  }
  t.regex(r.out, /^0: \[shoal\] parameter server 0: all 2 workers finished; stopping/m, r.out);
  // Slurm keeps the step going after a task dies, and srun's status reports the killed one.
  t.regex(r.out, /task 1: Killed/, r.out);
  t.not(r.code, 0, r.out);
});

run('srun with SHOAL_NUM_SERVERS=2: workers that all exit before init() do not leave the servers waiting: they stop after 2 x SHOAL_TIMEOUT_MS', async (t) => {
  t.timeout(200_000);
  const cluster = t.context.cluster!;
  const r = await runBounded(cluster, 'srun', ['-n', String(NTASKS), '-l', process.execPath, fixture('ps_foreign.mjs'), 'workers-quit'], { ...(await shoalEnv()), SHOAL_NUM_SERVERS: '2', SHOAL_TIMEOUT_MS: '3000' }, 150_000);
  t.false(r.killed, `srun did not end within 150 s\n${r.out}\n${cluster.logs()}`);
  t.not(r.code, 0, r.out);
  for (const server of [0, 1]) {
    t.regex(r.out, new RegExp(`^${server}: \\[shoal\\] parameter server ${server}: the 2 workers did not all join the job: .*timed out after 6000 ms.*; under slurm nothing restarts a lost process`, 'm'), r.out);
  }
});

run('srun with SHOAL_NUM_SERVERS=2: a worker task SIGKILLed makes the other worker fail naming it, the servers stop saying which worker was lost, and srun ends', async (t) => {
  t.timeout(200_000);
  const cluster = t.context.cluster!;
  // Worker rank 1 is task 3.
  const r = await runBounded(cluster, 'srun', ['-n', String(NTASKS), '-l', process.execPath, fixture('slurm_kill_rank.mjs'), '1'], { ...(await shoalEnv()), SHOAL_NUM_SERVERS: '2' }, 150_000);
  t.false(r.killed, `srun did not end within 150 s after worker 1 was killed\n${r.out}\n${cluster.logs()}`);
  t.not(r.code, 0, r.out);
  t.regex(r.out, /^3: KILLING rank 1 /m, r.out);
  const lost = /^2: LOST (.*)$/m.exec(r.out);
  t.truthy(lost, r.out);
  const l = JSON.parse(lost![1]!) as { rank: number; peerLost: boolean; peer: number };
  t.deepEqual([l.rank, l.peerLost, l.peer], [0, true, 1], r.out);
  for (const server of [0, 1]) {
    t.regex(r.out, new RegExp(`^${server}: \\[shoal\\] parameter server ${server}: worker rank 1 was lost .*; under slurm nothing restarts a lost process, so this server stops \\(exit 1\\)`, 'm'), r.out);
  }
});
