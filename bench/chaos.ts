// Chaos scenarios with timings (issue 8; results go to RELIABILITY.md): each scenario runs a
// real `shoal train` job twice, undisturbed and with a fault, and reports detection time,
// recovery time, wall time and the metric delta. Every stderr/stdout line is timestamped when
// it reaches this process, so the times are measured from the outside:
//   kill        the victim's "[shoal inject] rank R: kill ..." line (written synchronously
//               right before it SIGKILLs itself)
//   detected    the first survivor's "[shoal recovery] ... rolling back" line (its collective
//               failed with PeerLostError), or the launcher's "coordinator killed" line
//   recovered   the last survivor's "world rebuilt" line (training runs again on every rank)
//
//   node dist/bench/chaos.js [--only lr,mart,resume,straggler,coordinator,ps] [--np 3]
//
// Data: ../shared/data/a9a (LR, MART) and `shoal datagen --task ratings` (FM). Results also go
// to bench/results/chaos.json.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { datagenMain } from '../cli/datagen_cli.js';
import { psMain } from '../cli/ps_cli.js';
import { childrenMatching, childWithEnv } from '../test/helpers/proc_tree.js';

const CLI = fileURLToPath(new URL('../cli/cli.js', import.meta.url));
const RESULTS = fileURLToPath(new URL('../../bench/results/', import.meta.url));
const A9A = fileURLToPath(new URL('../../../shared/data/a9a/', import.meta.url));

function flag(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? (process.argv[i + 1] ?? dflt) : dflt;
}
const only = new Set(flag('only', 'lr,mart,resume,straggler,coordinator,ps,servers').split(','));
const np = flag('np', '3');
const work = mkdtempSync(join(tmpdir(), 'shoal-chaos-'));

interface Line {
  t: number;
  text: string;
}
interface Run {
  code: number | null;
  wallS: number;
  lines: Line[];
}

/** Runs the CLI; `onLine` may act on the job (e.g. kill its coordinator) as lines arrive. */
function shoal(args: string[], onLine?: (text: string, pid: number) => void): Promise<Run> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: Line[] = [];
    for (const stream of [child.stdout, child.stderr]) {
      let buf = '';
      stream.on('data', (d: Buffer) => {
        buf += d.toString();
        let i;
        while ((i = buf.indexOf('\n')) >= 0) {
          const text = buf.slice(0, i);
          buf = buf.slice(i + 1);
          lines.push({ t: performance.now() - t0, text });
          onLine?.(text, child.pid!);
        }
      });
    }
    child.on('close', (code) => resolve({ code, wallS: (performance.now() - t0) / 1000, lines }));
  });
}

const firstAt = (run: Run, re: RegExp): number | null => run.lines.find((l) => re.test(l.text))?.t ?? null;
const lastAt = (run: Run, re: RegExp): number | null => [...run.lines].reverse().find((l) => re.test(l.text))?.t ?? null;
const metrics = (file: string): Record<string, number> => JSON.parse(readFileSync(file, 'utf8')) as Record<string, number>;
const sec = (ms: number | null): string => (ms === null ? 'n/a' : `${(ms / 1000).toFixed(2)} s`);

interface Row {
  scenario: string;
  command: string;
  detectS: number | null;
  recoverS: number | null;
  baseWallS: number;
  wallS: number;
  metric: string;
  base: number;
  value: number;
  identical?: boolean;
}
const rows: Row[] = [];

function report(row: Row): void {
  rows.push(row);
  const delta = row.value - row.base;
  console.log(
    `${row.scenario}\n  ${row.command}\n  detection ${sec(row.detectS === null ? null : row.detectS * 1000)}, recovery ${sec(row.recoverS === null ? null : row.recoverS * 1000)}, ` +
      `wall ${row.wallS.toFixed(2)} s vs ${row.baseWallS.toFixed(2)} s undisturbed, ${row.metric} ${row.value.toFixed(6)} vs ${row.base.toFixed(6)} (delta ${delta.toExponential(2)})` +
      (row.identical === undefined ? '' : row.identical ? ', model byte-identical' : ', model differs'),
  );
}

/** Kill a worker at a collective; survivors recover with the replacement. */
async function killScenario(name: string, trainArgs: string[], inject: string, metric: string): Promise<void> {
  const base = join(work, `${name}-base`);
  const chaos = join(work, `${name}-chaos`);
  const b = await shoal([...trainArgs, '--metrics-out', `${base}.json`, '--model-out', `${base}.model`, '-q']);
  const cmd = [...trainArgs, '--max-restarts', '1', '--inject', inject];
  const c = await shoal([...cmd, '--metrics-out', `${chaos}.json`, '--model-out', `${chaos}.model`, '-q']);
  if (b.code !== 0 || c.code !== 0) throw new Error(`${name}: exit ${b.code}/${c.code}\n${c.lines.map((l) => l.text).join('\n')}`);
  const kill = firstAt(c, /\[shoal inject\] rank \d+: kill/);
  const detect = firstAt(c, /\[shoal recovery\] rank \d+: .*rolling back/);
  const rebuilt = lastAt(c, /\[shoal recovery\] rank \d+: world rebuilt/);
  report({
    scenario: `${name}: SIGKILL a worker (${inject})`,
    command: `shoal ${cmd.join(' ')}`,
    detectS: kill !== null && detect !== null ? (detect - kill) / 1000 : null,
    recoverS: kill !== null && rebuilt !== null ? (rebuilt - kill) / 1000 : null,
    baseWallS: b.wallS,
    wallS: c.wallS,
    metric,
    base: metrics(`${base}.json`)[metric]!,
    value: metrics(`${chaos}.json`)[metric]!,
    identical: readFileSync(`${base}.model`, 'utf8') === readFileSync(`${chaos}.model`, 'utf8'),
  });
}

/** Kill the whole job (rank 0 exits), then --resume from the checkpoint. */
async function resumeScenario(name: string, trainArgs: string[], inject: string, metric: string): Promise<void> {
  const base = join(work, `${name}-rbase`);
  const out = join(work, `${name}-resumed`);
  const ckpt = join(work, `${name}-ckpt`);
  const b = await shoal([...trainArgs, '--metrics-out', `${base}.json`, '--model-out', `${base}.model`, '-q']);
  const k = await shoal([...trainArgs, '--checkpoint', ckpt, '--inject', inject, '-q']);
  const r = await shoal([...trainArgs, '--resume', ckpt, '--metrics-out', `${out}.json`, '--model-out', `${out}.model`, '-q']);
  if (b.code !== 0 || k.code === 0 || r.code !== 0) throw new Error(`${name} resume: exit ${b.code}/${k.code}/${r.code}\n${r.lines.map((l) => l.text).join('\n')}`);
  report({
    scenario: `${name}: whole job killed (${inject}), then --resume`,
    command: `shoal ${[...trainArgs, '--checkpoint', 'ckpt/', '--inject', inject].join(' ')}; shoal ${[...trainArgs, '--resume', 'ckpt/'].join(' ')}`,
    detectS: null,
    recoverS: null,
    baseWallS: b.wallS,
    wallS: k.wallS + r.wallS,
    metric,
    base: metrics(`${base}.json`)[metric]!,
    value: metrics(`${out}.json`)[metric]!,
    identical: readFileSync(`${base}.model`, 'utf8') === readFileSync(`${out}.model`, 'utf8'),
  });
}


async function coordinatorScenario(trainArgs: string[], afterLine: RegExp, metric: string): Promise<void> {
  const base = join(work, 'coord-base');
  const out = join(work, 'coord-chaos');
  const b = await shoal([...trainArgs, '--metrics-out', `${base}.json`]);
  let killedAt: number | null = null;
  const t0 = performance.now();
  const c = await shoal([...trainArgs, '--metrics-out', `${out}.json`], (text, pid) => {
    if (killedAt !== null || !afterLine.test(text)) return;
    for (const p of childrenMatching(pid, 'coordinator_main')) {
      process.kill(p, 'SIGKILL');
      killedAt = performance.now() - t0;
    }
  });
  if (b.code !== 0 || c.code !== 0) throw new Error(`coordinator: exit ${b.code}/${c.code}\n${c.lines.map((l) => l.text).join('\n')}`);
  const noticed = firstAt(c, /the coordinator killed by SIGKILL; restarting/);
  report({
    scenario: 'LR (L-BFGS): SIGKILL the coordinator process mid-training',
    command: `shoal ${trainArgs.join(' ')}  (then kill -9 the coordinator_main child of the shoal process)`,
    detectS: killedAt !== null && noticed !== null ? (noticed - killedAt) / 1000 : null,
    recoverS: null,
    baseWallS: b.wallS,
    wallS: c.wallS,
    metric,
    base: metrics(`${base}.json`)[metric]!,
    value: metrics(`${out}.json`)[metric]!,
  });
}


/**
 * FM through the parameter server: SIGKILL a worker or a server from outside (PS workers run
 * few collectives, so no injection point) once rank 0 reports epoch `atEpoch`.
 */
async function fmScenario(fm: string[], victim: 'worker' | 'server', atEpoch: number): Promise<void> {
  const base = join(work, 'fm-base');
  const out = join(work, `fm-${victim}`);
  const b = await shoal([...fm, '--metrics-out', `${base}.json`, '--model-out', `${base}.model`]);
  let killedAt: number | null = null;
  const t0 = performance.now();
  const c = await shoal([...fm, '--max-restarts', '1', '--metrics-out', `${out}.json`, '--model-out', `${out}.model`], (text, pid) => {
    if (killedAt !== null || !new RegExp(`fm epoch ${atEpoch}/`).test(text)) return;
    const p = victim === 'worker' ? childWithEnv(pid, 'fm/worker.js', 'SHOAL_RANK', '1') : childWithEnv(pid, 'server_main', 'SHOAL_SERVER_RANK', '1');
    if (p !== null) {
      process.kill(p, 'SIGKILL');
      killedAt = performance.now() - t0;
    }
  });
  if (b.code !== 0 || c.code !== 0) throw new Error(`fm ${victim}: exit ${b.code}/${c.code}\n${c.lines.map((l) => l.text).join('\n')}`);
  const detect = victim === 'worker' ? firstAt(c, /\[ps recovery\] rank \d+: rank 1 lost/) : firstAt(c, /server 1 killed by SIGKILL; starting a replacement/);
  const back = victim === 'worker' ? firstAt(c, /\[ps recovery\] rank 1: resuming fm/) : firstAt(c, /parameter server 1 \(restart 1\) restored/);
  report({
    scenario: `FM (parameter server, 2 servers, replication 2): SIGKILL ${victim} 1 after epoch ${atEpoch}`,
    command: `shoal ${[...fm, '--max-restarts', '1'].join(' ')}  (then kill -9 the ${victim}'s process)`,
    detectS: killedAt !== null && detect !== null ? (detect - killedAt) / 1000 : null,
    recoverS: killedAt !== null && back !== null ? (back - killedAt) / 1000 : null,
    baseWallS: b.wallS,
    wallS: c.wallS,
    metric: 'rmse',
    base: metrics(`${base}.json`)['rmse']!,
    value: metrics(`${out}.json`)['rmse']!,
  });
}

/**
 * Parameter-server membership with 1e6 keys while 3 workers push (the test workers of
 * ps_rejoin / ps_elastic, which check every key against the acknowledged total):
 *   replace  a server SIGKILLed and replaced (--max-restarts 1): rows restored hot
 *   add      `shoal ps add-server --job URL` on 2 servers: rows moved to the new one
 *   remove   `shoal ps remove-server 1 --job URL` on 3 servers: rows copied before it leaves
 */
async function serverScenario(kind: 'replace' | 'add' | 'remove'): Promise<void> {
  const worker = fileURLToPath(new URL(`../test/workers/${kind === 'replace' ? 'ps_rejoin' : 'ps_elastic'}.worker.js`, import.meta.url));
  const servers = kind === 'add' ? '2' : '3';
  const args = ['run', '-np', '3', '--servers', servers, '--max-restarts', '1', '-x', 'SHOAL_TEST_KEYS=1000000', '-x', 'SHOAL_PS_TIMEOUT_MS=120000', 'node', worker, kind];
  let url = '';
  let asked: Promise<number> | null = null;
  const r = await shoal(args, (text) => {
    const m = /dashboard: (\S+)/.exec(text);
    if (m) url = m[1]!;
    if (!asked && kind !== 'replace' && text.includes('ELASTIC ')) asked = psMain(kind === 'add' ? ['add-server', '--job', url] : ['remove-server', '1', '--job', url]);
  });
  const code = asked ? await asked : 0;
  const results = r.lines.filter((l) => /RESULT /.test(l.text)).map((l) => JSON.parse(l.text.slice(l.text.indexOf('RESULT ') + 7)) as { wrong: number });
  if (r.code !== 0 || code !== 0 || results.length !== 3) throw new Error(`servers ${kind}: exit ${r.code}/${code}\n${r.lines.map((l) => l.text).join('\n')}`);
  const line = r.lines.find((l) => /restored \d+ rows|joined: copied \d+ rows|drained: the other servers copied \d+ rows/.test(l.text))?.text ?? '';
  const rows = Number(/(\d+) rows/.exec(line)?.[1] ?? NaN);
  const ms = Number(/in (\d+) ms/.exec(line)?.[1] ?? NaN);
  const wrong = results.reduce((n, x) => n + x.wrong, 0);
  const what = { replace: 'a server SIGKILLed and replaced', add: 'shoal ps add-server (2 -> 3 servers)', remove: 'shoal ps remove-server 1 (3 -> 2 servers)' }[kind];
  console.log(`PS, 1e6 keys, 3 workers pushing: ${what}\n  shoal ${args.join(' ')}\n  ${rows} rows copied in ${ms} ms; keys differing from the acknowledged totals: ${wrong}; wall ${r.wallS.toFixed(2)} s`);
  rows > 0 && rowsTable.push({ kind, rows, ms, wrong, wallS: r.wallS });
}
const rowsTable: Array<{ kind: string; rows: number; ms: number; wrong: number; wallS: number }> = [];

async function stragglerScenario(trainArgs: string[], metric: string): Promise<void> {
  const slow = [...trainArgs, '--slow-rank', '1', '--slow-ms', '40'];
  const plain = await shoal([...trainArgs, '--metrics-out', join(work, 's0.json'), '-q']);
  const s = await shoal([...slow, '--metrics-out', join(work, 's1.json'), '-q']);
  const bk = await shoal([...slow, '--backup-instances', '1', '--metrics-out', join(work, 's2.json'), '-q']);
  if (plain.code !== 0 || s.code !== 0 || bk.code !== 0) throw new Error(`straggler: exit ${plain.code}/${s.code}/${bk.code}`);
  const first = firstAt(bk, /\[shoal inject\] rank 1: delay/);
  const flagged = firstAt(bk, /is a straggler/);
  const rebuilt = lastAt(bk, /world rebuilt/);
  report({
    scenario: `LR (L-BFGS): rank 1 is 40 ms slower per op (--slow-rank 1 --slow-ms 40), with --backup-instances 1 vs without (${s.wallS.toFixed(2)} s; no straggler: ${plain.wallS.toFixed(2)} s)`,
    command: `shoal ${[...slow, '--backup-instances', '1'].join(' ')}`,
    detectS: first !== null && flagged !== null ? (flagged - first) / 1000 : null,
    recoverS: flagged !== null && rebuilt !== null ? (rebuilt - flagged) / 1000 : null,
    baseWallS: s.wallS,
    wallS: bk.wallS,
    metric,
    base: metrics(join(work, 's1.json'))[metric]!,
    value: metrics(join(work, 's2.json'))[metric]!,
  });
}

const haveA9a = existsSync(join(A9A, 'a9a')) && existsSync(join(A9A, 'a9a.t'));
const lr = ['train', 'lr', '--solver', 'lbfgs', '--train', join(A9A, 'a9a'), '--test', join(A9A, 'a9a.t'), '-np', np, '--max-iter', '300'];
const mart = ['train', 'mart', '--train', join(A9A, 'a9a'), '--test', join(A9A, 'a9a.t'), '-np', np, '--rounds', '100', '--max-depth', '6', '--eta', '0.1'];

try {
  if (haveA9a) {
    if (only.has('lr')) await killScenario('LR (L-BFGS)', lr, 'kill:rank=1:op=allReduce:seq=120', 'auc');
    if (only.has('mart')) await killScenario('MART', mart, 'kill:rank=2:op=allReduce:seq=505', 'auc');
    if (only.has('resume')) {
      await resumeScenario('LR (OWL-QN)', [...lr, "--solver", "owlqn"], 'exit:rank=0:op=allReduce:seq=150:code=9', 'auc');
      await resumeScenario('MART', mart, 'exit:rank=0:op=allReduce:seq=505:code=9', 'auc');
    }
    if (only.has('straggler')) await stragglerScenario(lr, 'auc');
    if (only.has('coordinator')) await coordinatorScenario(lr, /lbfgs iter +20 /, 'auc');
  } else {
    console.log(`skipping the a9a scenarios: ${A9A} not found`);
  }
  if (only.has('ps')) {
    const ratings = join(work, 'ratings.libfm');
    await datagenMain(['--task', 'ratings', '--out', ratings, '--test-out', `${ratings}.test`, '--rows', '200000', '--users', '2000', '--items', '1000', '--seed', '3']);
    const fm = ['train', 'fm', '--train', ratings, '--test', `${ratings}.test`, '-np', np, '--servers', '2', '--task', 'regression', '--epochs', '10', '--factors', '8', '--lr', '0.1', '--init-std', '0.1', '--batch', '256', '--staleness', '0'];
    await fmScenario(fm, 'worker', 3);
    await fmScenario(fm, 'server', 3);
  }
  if (only.has('servers')) {
    await serverScenario('replace');
    await serverScenario('add');
    await serverScenario('remove');
  }
} finally {
  mkdirSync(RESULTS, { recursive: true });
  writeFileSync(join(RESULTS, 'chaos.json'), JSON.stringify({ date: new Date().toISOString(), node: process.version, cores: availableParallelism(), loadavg: loadavg(), rows, servers: rowsTable }, null, 2));
  rmSync(work, { recursive: true, force: true });
}
