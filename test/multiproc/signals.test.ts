// A signal to `shoal train X` (Ctrl-C, a scheduler's or `timeout`'s SIGTERM, a closed
// terminal's SIGHUP) stops the whole job: every rank, parameter server and the coordinator
// exit, and the command exits 128 + the signal's number (lib/job_signals.ts). Each case starts
// a real 2-rank job on small generated data, made long with a delay on every collective, sends
// the signal once training is under way (rank 0 printed a line and every process of the job is
// up) and checks that within a bound the command exited with that code and none of the
// processes it had remains.
import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { constants as osConstants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

import { descendants, stillRunning, type ProcId } from '../helpers/proc_tree.js';
import { CLI, shoal } from '../helpers/shoal_cli.js';

const dir = mkdtempSync(join(tmpdir(), 'shoal-signals-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

const data = {
  binary: join(dir, 'binary.svm'),
  ratings: join(dir, 'ratings.svm'),
  rank: join(dir, 'rank.svm'),
};

test.before(async () => {
  for (const [task, out, size] of [['binary', data.binary, ['--rows', '4000', '--features', '2000', '--nnz', '10']], ['ratings', data.ratings, ['--rows', '4000', '--users', '200', '--items', '100']], ['rank', data.rank, ['--queries', '60']]] as const) {
    const run = await shoal(['datagen', '--task', task, '--out', out, '-q', ...size], 60_000);
    if (run.code !== 0) throw new Error(`datagen ${task}: ${run.stderr}`);
  }
});

/** Every collective of rank 1 waits this long: the runs last minutes unless stopped. */
const SLOW = ['--inject', 'delay:rank=1:ms=100'];

interface Case {
  name: string;
  args: string[];
  /** Ranks' entry script (part of its path) and how many parameter servers the job has. */
  entry: string;
  servers: number;
}

const CASES: Case[] = [
  { name: 'lr', args: ['lr', '--train', data.binary, '--max-iter', '100000', '--tol', '0', ...SLOW], entry: 'ranks/lr_main.js', servers: 0 },
  { name: 'lr --solver bcd', args: ['lr', '--solver', 'bcd', '--train', data.binary, '--max-iter', '100000', '--tol', '0', ...SLOW], entry: 'ranks/lr_main.js', servers: 0 },
  { name: 'ftrl', args: ['ftrl', '--train', data.binary, '--epochs', '100000', ...SLOW], entry: 'ftrl/worker.js', servers: 2 },
  { name: 'fm', args: ['fm', '--train', data.ratings, '--task', 'regression', '--epochs', '100000', ...SLOW], entry: 'fm/worker.js', servers: 2 },
  { name: 'mart', args: ['mart', '--train', data.binary, '--rounds', '100000', '--max-depth', '3', ...SLOW], entry: 'ranks/mart_main.js', servers: 0 },
  { name: 'lambdamart', args: ['lambdamart', '--train', data.rank, '--rounds', '100000', '--max-depth', '3', ...SLOW], entry: 'ranks/lambdamart_main.js', servers: 0 },
];

/** Signals each trainer is tested with: SIGTERM for all, SIGINT and SIGHUP for two of them. */
const SIGNALS: Record<string, NodeJS.Signals[]> = {
  lr: ['SIGTERM', 'SIGINT', 'SIGHUP'],
  ftrl: ['SIGTERM', 'SIGHUP'],
  fm: ['SIGTERM', 'SIGINT'],
};

/** Bound on every wait: starting the job, and stopping it (grace 3 s, then SIGKILL). */
const START_MS = 60_000;
const STOP_MS = 20_000;

for (const c of CASES) {
  for (const signal of SIGNALS[c.name] ?? ['SIGTERM']) {
    test.serial(`${signal} to shoal train ${c.name} stops every process of the job and exits ${128 + osConstants.signals[signal]}`, async (t) => {
      t.timeout(START_MS + STOP_MS + 10_000);
      const cli = spawn(process.execPath, [CLI, 'train', ...c.args, '-np', '2'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      cli.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => cli.on('exit', (code, sig) => resolve({ code, signal: sig })));
      let job: ProcId[] = [];
      // Whatever happens, nothing this test started survives it.
      t.teardown(() => {
        for (const p of [...stillRunning(job), ...descendants(cli.pid!)]) {
          try {
            process.kill(p.pid, 'SIGKILL');
          } catch {
            /* gone */
          }
        }
        cli.kill('SIGKILL');
      });

      const expected = 2 + c.servers + 1;  // ranks, servers, coordinator
      const firstLine = new Promise<void>((resolve) => createInterface({ input: cli.stdout }).once('line', () => resolve()));
      const started = await Promise.race([firstLine.then(() => true), exited.then(() => false), delay(START_MS).then(() => false)]);
      t.true(started, `no training output: ${stderr}`);
      for (const deadline = Date.now() + START_MS; Date.now() < deadline; await delay(100)) {
        job = descendants(cli.pid!);
        if (job.length >= expected) break;
      }
      const count = (needle: string): number => job.filter((p) => p.cmdline.includes(needle)).length;
      t.is(count(c.entry), 2, JSON.stringify(job));
      t.is(count('server_main.js'), c.servers, JSON.stringify(job));
      t.is(count('coordinator_main.js'), 1, JSON.stringify(job));

      cli.kill(signal);
      const end = await Promise.race([exited, delay(STOP_MS).then(() => null)]);
      t.truthy(end, `shoal train ${c.name} still running ${STOP_MS} ms after ${signal}`);
      t.is(end?.code, 128 + osConstants.signals[signal], stderr);
      t.true(stderr.includes(`interrupted by ${signal}`), stderr);
      t.deepEqual(stillRunning(job), [], 'no process of the job is left');
    });
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}
