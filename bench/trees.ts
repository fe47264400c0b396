// Gradient boosted trees: Shoal MART at np = 1, 2 beside XGBoost's hist method (Debian's
// `xgboost` CLI, or python3-xgboost when only that is installed) on the same files with the
// same parameters, side by side in one run: wall time, peak memory, test AUC.
//
//   node dist/bench/trees.js [--rows 1e6] [--features 28] [--rounds 100] [--max-depth 6]
//        [--eta 0.1] [--max-bin 256] [--nps 1,2] [--nthread 2] [--no-xgboost] [--keep]
//
// Data: `shoal datagen --task dense --rows N --features 28` (datagenMain in-process; train file
// plus a 20 % test file; same seed, same bytes). Every system runs as a child process:
//   shoal    node dist/cli/cli.js train mart --train F --test T -np K --rounds R --max-depth D
//            --eta E --max-bin B --metrics-out M -q   (test AUC and train_seconds from M)
//   xgboost  xgboost CONF data=F?format=libsvm eval[test]=T?format=libsvm tree_method=hist
//            nthread=2 ... (test AUC from the last `test-auc:` line; no train clock)
// Both use lambda 1, min_child_weight 1, base score 0.5 (the defaults of both).
//
// Columns: "wall" is the child's elapsed time (process start, reading the text files, binning,
// training, evaluating, writing outputs); "train" is Shoal's own clock (after reading).
// "peak RSS" is the peak of the SUM of the resident set sizes of the child and all its
// descendants (the launcher and every rank for Shoal), sampled from /proc every 50 ms; "max
// proc" is /usr/bin/time -v's "Maximum resident set size" (the largest single process) when
// /usr/bin/time is installed, else the sampled maximum of one process. Results also go to
// bench/results/trees.json with node version, cores and load average. Numbers from a loaded
// machine (see the printed load average) are not comparable.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { datagenMain } from '../cli/datagen_cli.js';

const CLI = fileURLToPath(new URL('../cli/cli.js', import.meta.url));
const RESULTS = fileURLToPath(new URL('../../bench/results/', import.meta.url));

function flag(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? (process.argv[i + 1] ?? dflt) : dflt;
}
const has = (name: string): boolean => process.argv.includes(`--${name}`);
const rows = Number(flag('rows', '1e6'));
const features = Number(flag('features', '28'));
const rounds = Number(flag('rounds', '100'));
const maxDepth = Number(flag('max-depth', '6'));
const eta = Number(flag('eta', '0.1'));
const maxBin = Number(flag('max-bin', '256'));
const nps = flag('nps', '1,2').split(',').map(Number);
const nthread = Number(flag('nthread', '2'));
if (![rows, features, rounds, maxDepth, eta, maxBin, nthread, ...nps].every((v) => Number.isFinite(v) && v > 0)) {
  console.error('usage: node dist/bench/trees.js [--rows 1e6] [--features 28] [--rounds 100] [--max-depth 6] [--eta 0.1] [--max-bin 256] [--nps 1,2] [--nthread 2] [--no-xgboost] [--keep]');
  process.exit(2);
}

const PAGE = 4096;
const TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : null;

/** Sum of the RSS (bytes) of `root` and its descendants, and the largest single RSS, from /proc. */
function treeRss(root: number): { total: number; largest: number } {
  const parent = new Map<number, number>();
  const rss = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parent.set(pid, Number(fields[1]));
      rss.set(pid, Number(readFileSync(`/proc/${pid}/statm`, 'latin1').split(' ')[1]) * PAGE);
    } catch {
      // the process ended meanwhile
    }
  }
  let total = 0;
  let largest = 0;
  for (const [pid, r] of rss) {
    let p: number | undefined = pid;
    for (let hops = 0; p !== undefined && p > 1 && hops < 64; hops++) {
      if (p === root) {
        total += r;
        largest = Math.max(largest, r);
        break;
      }
      p = parent.get(p);
    }
  }
  return { total, largest };
}

interface Measured {
  code: number | null;
  stdout: string;
  stderr: string;
  wall: number;
  peakTotal: number;
  peakProcess: number;
}

/** Runs a command under /usr/bin/time -v (when installed) while sampling its process tree's RSS. */
function measure(cmd: string, args: string[], dir: string): Promise<Measured> {
  const timeFile = join(dir, `time.${Date.now()}.txt`);
  const [c, a] = TIME ? [TIME, ['-v', '-o', timeFile, cmd, ...args]] : [cmd, args];
  const t0 = performance.now();
  return new Promise((resolve) => {
    const child = spawn(c, a, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let peakTotal = 0;
    let peakSampled = 0;
    const sample = (): void => {
      if (child.pid === undefined) return;
      const r = treeRss(child.pid);
      peakTotal = Math.max(peakTotal, r.total);
      peakSampled = Math.max(peakSampled, r.largest);
    };
    const timer = setInterval(sample, 50);
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => {
      clearInterval(timer);
      const wall = (performance.now() - t0) / 1000;
      let peakProcess = peakSampled;
      if (TIME && existsSync(timeFile)) {
        const m = /Maximum resident set size \(kbytes\): (\d+)/.exec(readFileSync(timeFile, 'utf8'));
        if (m) peakProcess = Number(m[1]) * 1024;
        const e = /Exit status: (\d+)/.exec(readFileSync(timeFile, 'utf8'));
        if (e) code = Number(e[1]);
      }
      resolve({ code, stdout, stderr, wall, peakTotal: Math.max(peakTotal, peakProcess), peakProcess });
    });
  });
}

interface Row {
  system: string;
  np: number;
  threads: string;
  wallSeconds: number;
  trainSeconds: number | null;
  peakRssMB: number;
  maxProcessRssMB: number;
  auc: number;
  command: string;
}

const dir = mkdtempSync(join(tmpdir(), 'shoal-bench-trees-'));
const trainFile = join(dir, 'dense.train.svm');
const testFile = join(dir, 'dense.test.svm');
const load0 = loadavg();
const gen = ['--task', 'dense', '--rows', String(rows), '--features', String(features), '--out', trainFile, '--test-out', testFile, '-q'];
console.log(`data: shoal datagen ${gen.join(' ')}`);
const tg = performance.now();
if ((await datagenMain(gen)) !== 0) throw new Error('datagen failed');
console.log(`      ${((performance.now() - tg) / 1000).toFixed(1)} s`);
console.log(`params: ${rounds} rounds, max_depth ${maxDepth}, eta ${eta}, max_bin ${maxBin}, lambda 1, min_child_weight 1`);

const results: Row[] = [];
const mb = (b: number): number => Math.round(b / 1048576);

for (const np of nps) {
  const metrics = join(dir, `shoal.np${np}.json`);
  const args = [CLI, 'train', 'mart', '--train', trainFile, '--test', testFile, '-np', String(np), '--rounds', String(rounds), '--max-depth', String(maxDepth), '--eta', String(eta), '--max-bin', String(maxBin), '--metrics-out', metrics, '-q'];
  const r = await measure(process.execPath, args, dir);
  if (r.code !== 0 || !existsSync(metrics)) throw new Error(`shoal np ${np} failed (${r.code}):\n${r.stderr}`);
  const m = JSON.parse(readFileSync(metrics, 'utf8')) as { auc: number; train_seconds: number };
  results.push({
    system: 'shoal mart',
    np,
    threads: np === 1 ? `${availableParallelism()} (hist)` : '1 per rank',
    wallSeconds: r.wall,
    trainSeconds: m.train_seconds,
    peakRssMB: mb(r.peakTotal),
    maxProcessRssMB: mb(r.peakProcess),
    auc: m.auc,
    command: `node dist/cli/cli.js ${args.slice(1).join(' ')}`,
  });
  console.log(`shoal np ${np}: ${r.wall.toFixed(1)} s, auc ${m.auc.toFixed(4)}`);
}

/** Debian's xgboost CLI when on PATH, else python3(-xgboost) with the same parameters. */
async function runXgboost(): Promise<Row | null> {
  const cliOk = spawnSync('xgboost', ['-V'], { encoding: 'utf8' }).status === 0;
  if (cliOk) {
    const conf = join(dir, 'xgb.conf');
    writeFileSync(conf, 'booster = gbtree\nobjective = binary:logistic\ntree_method = hist\neval_metric = auc\n');
    const args = [conf, `data=${trainFile}?format=libsvm`, `eval[test]=${testFile}?format=libsvm`, `max_depth=${maxDepth}`, `eta=${eta}`, `max_bin=${maxBin}`, 'lambda=1', 'min_child_weight=1', 'base_score=0.5', `nthread=${nthread}`, `num_round=${rounds}`, `model_out=${join(dir, 'xgb.model')}`];
    const r = await measure('xgboost', args, dir);
    const aucs = [...r.stderr.matchAll(/test-auc:([0-9.eE+-]+)/g)];
    if (r.code !== 0 || aucs.length === 0) throw new Error(`xgboost failed (${r.code}):\n${r.stderr.slice(-4000)}`);
    const auc = Number(aucs[aucs.length - 1]![1]);
    console.log(`xgboost cli: ${r.wall.toFixed(1)} s, auc ${auc.toFixed(4)}`);
    return { system: 'xgboost cli (hist)', np: 1, threads: String(nthread), wallSeconds: r.wall, trainSeconds: null, peakRssMB: mb(r.peakTotal), maxProcessRssMB: mb(r.peakProcess), auc, command: `xgboost ${args.join(' ')}` };
  }
  for (const py of ['python3', '/usr/bin/python3']) {
    if (spawnSync(py, ['-c', 'import xgboost'], { encoding: 'utf8' }).status !== 0) continue;
    const script = [
      'import json, sys, time, xgboost as xgb',
      `dtr = xgb.DMatrix(${JSON.stringify(`${trainFile}?format=libsvm`)}); dte = xgb.DMatrix(${JSON.stringify(`${testFile}?format=libsvm`)})`,
      `p = dict(objective="binary:logistic", tree_method="hist", eval_metric="auc", max_depth=${maxDepth}, eta=${eta}, max_bin=${maxBin}, reg_lambda=1, min_child_weight=1, base_score=0.5, nthread=${nthread})`,
      't0 = time.time(); res = {}',
      `b = xgb.train(p, dtr, ${rounds}, evals=[(dte, "test")], evals_result=res, verbose_eval=False)`,
      'print(json.dumps({"auc": res["test"]["auc"][-1], "train_seconds": time.time() - t0}))',
    ].join('\n');
    const r = await measure(py, ['-c', script], dir);
    if (r.code !== 0) throw new Error(`python xgboost failed (${r.code}):\n${r.stderr.slice(-4000)}`);
    const m = JSON.parse(r.stdout.trim().split('\n').pop()!) as { auc: number; train_seconds: number };
    console.log(`xgboost python: ${r.wall.toFixed(1)} s, auc ${m.auc.toFixed(4)}`);
    return { system: 'xgboost python (hist)', np: 1, threads: String(nthread), wallSeconds: r.wall, trainSeconds: m.train_seconds, peakRssMB: mb(r.peakTotal), maxProcessRssMB: mb(r.peakProcess), auc: m.auc, command: `${py} -c <xgb.train script>` };
  }
  console.log('xgboost: neither the xgboost CLI nor python3-xgboost is installed (apt-get install xgboost python3-xgboost); Shoal only');
  return null;
}
if (!has('no-xgboost')) {
  const x = await runXgboost();
  if (x) results.push(x);
}

const pad = (s: string, n: number): string => s.padEnd(n);
const lpad = (s: string, n: number): string => s.padStart(n);
console.log('');
console.log(`dense ${rows} rows (80/20 train/test) x ${features} features; ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), node ${process.version}; load average before ${load0.map((v) => v.toFixed(2)).join(' ')}`);
console.log(`${pad('system', 22)}${lpad('np', 3)}  ${pad('threads', 12)}${lpad('wall s', 8)}${lpad('train s', 9)}${lpad('peak RSS MB', 13)}${lpad('max proc MB', 13)}${lpad('test AUC', 10)}`);
for (const r of results) {
  console.log(
    `${pad(r.system, 22)}${lpad(String(r.np), 3)}  ${pad(r.threads, 12)}${lpad(r.wallSeconds.toFixed(2), 8)}${lpad(r.trainSeconds === null ? '-' : r.trainSeconds.toFixed(2), 9)}${lpad(String(r.peakRssMB), 13)}${lpad(String(r.maxProcessRssMB), 13)}${lpad(r.auc.toFixed(4), 10)}`,
  );
}

mkdirSync(RESULTS, { recursive: true });
const out = join(RESULTS, 'trees.json');
writeFileSync(
  out,
  `${JSON.stringify(
    {
      benchmark: 'trees',
      date: new Date().toISOString(),
      node: process.version,
      cores: cpus().length,
      cpu: cpus()[0]?.model ?? null,
      loadAverageBefore: load0,
      loadAverageAfter: loadavg(),
      data: `shoal datagen ${gen.slice(0, -5).join(' ')} (test fraction 0.2)`,
      params: { rounds, maxDepth, eta, maxBin, lambda: 1, minChildWeight: 1 },
      peakMemory: 'peakRssMB: sampled sum over the process tree (50 ms); maxProcessRssMB: /usr/bin/time -v largest process',
      results,
    },
    null,
    2,
  )}\n`,
);
console.log(`\nwrote ${out}`);
if (!has('keep')) rmSync(dir, { recursive: true, force: true });
else console.log(`data kept in ${dir}`);
