// PS trainers benchmark: FTRL and FM rows/s and test metric at np 1 and 2 with 2 servers on
// synthetic data (lib/data/datagen.ts), then SSP (staleness 2) against BSP time-to-metric with
// one slowed worker (--slow-rank 1 --slow-ms 5). Each case is a fresh `shoal train` job (its own
// processes), so JIT and GC state do not leak between cases. Prints a table; `wall s` is the
// whole job (launch, load, train, evaluate), `train s` rank 0's training time (it ends with a
// barrier, so it includes waiting for the slow rank).
//
//   node dist/bench/ps_algos.js [--rows N] [--keep DIR] [--slow-ms MS]
//        [--straggler every|intermittent|intermittent-all] [--straggler-epochs E] [--straggler-prob P]
//        [--ssp-staleness S] [--repeat N] [--seed S] [--only-straggler] [--prefetch-compare]
//        [--pipeline-compare [--ps-cache S]]
//
// --straggler every (default): the slow rank sleeps --slow-ms after every minibatch (FTRL and FM).
// --straggler intermittent: FTRL only; the slow rank sleeps --slow-ms on a seeded random
//   --straggler-prob (0.2) of its minibatches; BSP and SSP s=2 both run --straggler-epochs
//   epochs (default 3) and are compared on wall time and final AUC (time to the same metric).
// --straggler intermittent-all: as intermittent, but every rank is an intermittent straggler
//   with its own seeded draws (BSP then waits for whichever rank is slow at each step).
// --ssp-staleness S (default 2) is the SSP side of the intermittent comparison; --repeat N runs
//   both N times, alternating, and prints medians.
// --only-straggler skips the np 1 / np 2 throughput cases.
// --prefetch-compare runs only FTRL and FM (ASP) at np 1 and 2 without and with --prefetch,
//   alternating, --repeat N times, and prints medians of rows/s and the metric with the load
//   average before and after (the machine is shared). With it, --staleness S is passed to both
//   trainers (default: theirs, FTRL 2, FM asp) and --nps 1,2 picks the worker counts.
//   --algos ftrl (or fm) runs one trainer only (default ftrl,fm).
// --pipeline-compare: as --prefetch-compare, over three variants: plain (--no-pipeline), --pipeline, and
//   --pipeline --ps-cache S (default: FTRL 9, FM 4, DEFAULT_PS_CACHE; a list S1,S2 runs one
//   cached variant per bound, for both trainers); prints the median per-stage times of rank 0 too.
// --netns [--rate R[,R...]] (with a compare mode): workers and servers on different pretend hosts
//   (network namespaces on a bridge, a host per worker and per server, each host's egress capped
//   at R by tbf: 100, 100mbit, 1gbit;
//   default 1gbit,100mbit, each rate a block of the table); bench/ps_netns_job.ts. --nps default 2.
//   Skipped with the reason when network namespaces cannot be made (not root, no ip/tc).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateDataset } from '../lib/data/datagen.js';
import { main as ftrlMain } from '../cli/trainers/ftrl_cli.js';
import { main as fmMain } from '../cli/trainers/fm_cli.js';
import { netnsUnavailable } from '../test/helpers/netns_hosts.js';
import { parseRateMbit, PsNetnsJob } from './ps_netns_job.js';

/**
 * --pipeline-compare's cache bound per trainer when --ps-cache is not given: the window (S + 1
 * minibatches) that met 1.3x over plain at the plain run's AUC / RMSE (BENCHMARKS.md "Minibatch
 * pipeline", fourth and fifth passes; FTRL's AUC 0.8020 at 9 vs 0.8024 plain, 0.8018 at 12).
 */
const DEFAULT_PS_CACHE = { ftrl: 9, fm: 4 } as const;

interface CaseResult {
  name: string;
  np: number;
  staleness: string;
  slow: string;
  metric: string;
  value: number;
  trainSeconds: number;
  wallSeconds: number;
  rowsPerSecond: number;
  /** CPU seconds of every process the job started (workers, servers, coordinator), load and evaluation included. */
  jobCpuSeconds: number;
  /** metrics.json `traffic`: requests and keys per row over all workers. */
  traffic: Record<string, number> | null;
  stages: Record<string, { busy_ms: number; wait_in_ms: number; wait_out_ms: number }> | null;
  /** --netns: bytes each host sent during the job (servers, then workers). */
  txBytes: number[] | null;
}

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

function stringFlag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? String(process.argv[i + 1]) : fallback;
}

/** CPU seconds of this process's finished (waited-for) children: /proc/self/stat cutime + cstime. */
function childrenCpuSeconds(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 16 and 17 of stat(5) (cutime, cstime), counted from field 3 after the command name.
  return (Number(fields[13]) + Number(fields[14])) / 100;
}

/** Runs a job: `shoal train` in this machine's loopback, or (--netns) across pretend hosts (then with the bytes each host sent). */
type JobRunner = (algo: 'ftrl' | 'fm', argv: string[]) => Promise<{ code: number; txBytes?: number[] }>;
const loopbackJob: JobRunner = async (algo, argv) => ({ code: await (algo === 'ftrl' ? ftrlMain : fmMain)(argv) });

async function runCase(algo: 'ftrl' | 'fm', name: string, args: string[], dir: string, run: JobRunner = loopbackJob): Promise<CaseResult> {
  const metricsOut = join(dir, `${name.replace(/\W+/g, '_')}.json`);
  const t0 = performance.now();
  const cpu0 = childrenCpuSeconds();
  const { code, txBytes } = await run(algo, [...args, '--metrics-out', metricsOut, '--quiet']);
  const wallSeconds = (performance.now() - t0) / 1000;
  const jobCpuSeconds = childrenCpuSeconds() - cpu0;
  if (code !== 0) throw new Error(`${name}: exit code ${code}`);
  const m = JSON.parse(readFileSync(metricsOut, 'utf8')) as Record<string, number | string>;
  const metric = algo === 'ftrl' || m['task'] === 'binary' ? 'auc' : 'rmse';
  const np = Number(args[args.indexOf('-np') + 1]);
  const si = args.indexOf('--staleness');
  const all = args.includes('intermittent-all');
  const intermittent = all || args.includes('intermittent') ? `@${Math.round(100 * Number(args[args.indexOf('--straggler-prob') + 1]))}%` : '';
  const slow = args.includes('--slow-ms') ? `${all ? 'all' : `rank ${args[args.indexOf('--slow-rank') + 1]}`} +${args[args.indexOf('--slow-ms') + 1]}ms${intermittent}` : '-';
  return {
    name,
    np,
    staleness: si >= 0 ? String(args[si + 1]) : String(m['staleness']),
    slow,
    metric,
    value: Number(m[metric]),
    trainSeconds: Number(m['train_seconds']),
    wallSeconds,
    rowsPerSecond: Number(m['rows_per_second']),
    jobCpuSeconds,
    traffic: (m['traffic'] as unknown as Record<string, number>) ?? null,
    stages: (m['pipeline_stages_rank0'] as unknown as CaseResult['stages']) ?? null,
    txBytes: txBytes ?? null,
  };
}

async function bench(): Promise<void> {
  const rows = flag('rows', 100_000);
  const keep = process.argv.indexOf('--keep');
  const dir = keep > 0 ? String(process.argv[keep + 1]) : mkdtempSync(join(tmpdir(), 'shoal-ps-algos-'));
  try {
    const bin = join(dir, 'binary.svm');
    const rat = join(dir, 'ratings.svm');
    await generateDataset({ task: 'binary', rows, features: 100_000, nnz: 20, seed: 1, out: bin, testOut: `${bin}.test`, testFraction: 0.2 });
    await generateDataset({ task: 'ratings', rows, users: 5000, items: 2000, seed: 2, out: rat, testOut: `${rat}.test`, testFraction: 0.2 });
    const ftrl = ['--train', bin, '--test', `${bin}.test`, '--servers', '2', '--hash-bits', '24', '--alpha', '0.1', '--batch', '256'];
    const fm = ['--train', rat, '--test', `${rat}.test`, '--servers', '2', '--epochs', '5', '--batch', '512'];
    const results: CaseResult[] = [];
    const medians: string[] = [];
    const straggler = stringFlag('straggler', 'every');
    if (!['every', 'intermittent', 'intermittent-all'].includes(straggler)) throw new Error(`--straggler must be every, intermittent or intermittent-all, got ${straggler}`);
    const slowMs = String(flag('slow-ms', 5));
    const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
    const compare = process.argv.includes('--prefetch-compare') || process.argv.includes('--pipeline-compare');
    if (compare) {
      const load = () => loadavg().map((l) => l.toFixed(2)).join(' ');
      const repeat = flag('repeat', 3);
      const netns = process.argv.includes('--netns');
      const nps = stringFlag('nps', netns ? '2' : '1,2').split(',').map(Number);
      const st = stringFlag('staleness', '');
      const extra = st ? ['--staleness', st] : [];
      const cases: [algo: 'ftrl' | 'fm', base: string[], np: number][] = [];
      const algos = stringFlag('algos', 'ftrl,fm').split(',');
      for (const algo of ['ftrl', 'fm'] as const) for (const np of algos.includes(algo) ? nps : []) cases.push([algo, [...(algo === 'ftrl' ? ftrl : fm), ...extra], np]);
      const variantsOf = (algo: 'ftrl' | 'fm'): Array<[label: string, flags: string[]]> =>
        process.argv.includes('--pipeline-compare')
          ? [['', ['--no-pipeline']], [' pipeline', ['--pipeline']], ...stringFlag('ps-cache', String(DEFAULT_PS_CACHE[algo])).split(',').map((c): [string, string[]] => [` pipeline cache ${c}`, ['--pipeline', '--ps-cache', c]])]
          : [['', ['--no-pipeline']], [' prefetch', ['--prefetch']]];
      // --netns: one block per rate, on the same namespaces (the cap is replaced between blocks).
      const rates = netns ? stringFlag('rate', '1gbit,100mbit').split(',').map(parseRateMbit) : [null];
      const why = netns ? netnsUnavailable() : null;
      if (why) {
        console.log(`ps_algos --netns skipped: ${why}`);
        return;
      }
      const job = netns ? new PsNetnsJob({ servers: 2, maxWorkers: Math.max(...nps), rateMbit: rates[0]! }) : null;
      try {
        for (const rate of rates) {
          if (job && rate !== null) job.setRate(rate);
          const where = rate === null ? '' : ` @${rate}mbit`;
          const run: JobRunner = job ? (algo, argv) => job.run(algo, Number(argv[argv.indexOf('-np') + 1]), argv) : loopbackJob;
          medians.push(`${rate === null ? 'loopback' : `workers and servers on different hosts, egress cap ${rate} Mbit/s (tbf)`}; load average before: ${load()}`);
          for (const [algo, base, np] of cases) {
            const variants = variantsOf(algo);
            // Variants alternate, so drift of the machine's load hits all alike.
            for (let i = 0; i < repeat; i++) {
              for (const [label, flags] of variants) results.push(await runCase(algo, `${algo} np ${np}${where}${label}`, [...base, '-np', String(np), ...flags], dir, run));
            }
            let plain = 0;
            for (const [label] of variants) {
              const rs = results.filter((r) => r.name === `${algo} np ${np}${where}${label}`);
              const rps = median(rs.map((r) => r.rowsPerSecond));
              if (label === '') plain = rps;
              medians.push(`median of ${rs.length}, ${rs[0]!.name}: ${rps} rows/s (${(rps / plain).toFixed(2)}x plain; each run ${rs.map((r) => r.rowsPerSecond).join(' ')}), ${rs[0]!.metric} ${median(rs.map((r) => r.value)).toFixed(4)}, job CPU ${median(rs.map((r) => r.jobCpuSeconds)).toFixed(2)} s${rs[0]!.traffic ? `, per row: ${rs[0]!.traffic['keys_pulled_per_row']} keys pulled, ${rs[0]!.traffic['keys_pushed_per_row']} pushed, ${rs[0]!.traffic['requests_per_row']} requests, worker CPU ${median(rs.map((r) => r.traffic?.['worker_cpu_us_per_row'] ?? 0))} us` : ''}`);
              if (rate !== null && rs[0]!.txBytes) {
                // How full each host's link was: its bytes over the job's training time (load and evaluation add a little).
                const cell = (i: number) => median(rs.map((r) => (r.txBytes![i]! * 8) / 1e6 / r.trainSeconds));
                const who = rs[0]!.txBytes.map((_, i) => (i < 2 ? `s${i}` : `w${i - 2}`));
                medians.push(`  egress Mbit/s per host over train s (median; cap ${rate}): ${who.map((w, i) => `${w} ${cell(i).toFixed(0)}`).join(', ')}`);
              }
              const withStages = rs.filter((r) => r.stages);
              if (withStages.length > 0) {
                const names = Object.keys(withStages[0]!.stages!).filter((n) => n !== 'consumer');
                const cell = (n: string, k: 'busy_ms' | 'wait_in_ms' | 'wait_out_ms') => median(withStages.map((r) => r.stages![n]?.[k] ?? 0));
                medians.push(`  rank 0 stage ms (median; busy / waiting for input / blocked on output): ${names.map((n) => `${n} ${cell(n, 'busy_ms')}/${cell(n, 'wait_in_ms')}/${cell(n, 'wait_out_ms')}`).join(', ')}`);
              }
            }
          }
          medians.push(`load average after: ${load()}`);
        }
      } finally {
        job?.destroy();
      }
    } else if (!process.argv.includes('--only-straggler')) {
      for (const np of [1, 2]) results.push(await runCase('ftrl', `ftrl np ${np}`, [...ftrl, '-np', String(np)], dir));
      for (const np of [1, 2]) results.push(await runCase('fm', `fm np ${np}`, [...fm, '-np', String(np)], dir));
    }
    const slow = ['--slow-rank', '1', '--slow-ms', slowMs];
    if (compare) {
      // Throughput only (above).
    } else if (straggler === 'every') {
      for (const s of ['0', '2']) results.push(await runCase('ftrl', `ftrl np 2 s=${s} slow`, [...ftrl, '-np', '2', '--staleness', s, ...slow], dir));
      for (const s of ['0', '2']) results.push(await runCase('fm', `fm np 2 s=${s} slow`, [...fm, '-np', '2', '--staleness', s, ...slow], dir));
    } else {
      const epochs = String(flag('straggler-epochs', 3));
      const prob = String(flag('straggler-prob', 0.2));
      const who = straggler === 'intermittent-all' ? ['--slow-ms', slowMs] : slow;
      const inter = [...who, '--straggler', straggler, '--straggler-prob', prob, '--seed', String(flag('seed', 1)), '--epochs', epochs];
      const ssp = String(flag('ssp-staleness', 2));
      const repeat = flag('repeat', 1);
      // BSP and SSP alternate, so drift of the machine's load hits both alike.
      for (let i = 0; i < repeat; i++) {
        for (const s of ['0', ssp]) results.push(await runCase('ftrl', `ftrl np 2 s=${s} ${straggler}`, [...ftrl, '-np', '2', '--staleness', s, ...inter], dir));
      }
      if (repeat > 1) {
        for (const s of ['0', ssp]) {
          const rs = results.filter((r) => r.staleness === s && r.name.includes(straggler));
          medians.push(`median of ${rs.length}, s=${s}: train ${median(rs.map((r) => r.trainSeconds)).toFixed(2)} s, wall ${median(rs.map((r) => r.wallSeconds)).toFixed(2)} s, auc ${median(rs.map((r) => r.value)).toFixed(4)}`);
        }
      }
    }

    console.log(`PS trainers, ${rows} synthetic rows (80% train), 2 servers, node ${process.version}, ${cpus().length} cores`);
    console.log('case                             np  staleness  slowed             metric         train s   wall s     rows/s  job cpu s');
    for (const r of results) {
      console.log(
        `${r.name.padEnd(33)}${String(r.np).padStart(2)}  ${r.staleness.padEnd(9)}  ${r.slow.padEnd(17)}  ${`${r.metric} ${r.value.toFixed(4)}`.padEnd(13)}  ${r.trainSeconds.toFixed(2).padStart(7)}  ${r.wallSeconds.toFixed(2).padStart(7)}  ${String(r.rowsPerSecond).padStart(9)}  ${r.jobCpuSeconds.toFixed(2).padStart(9)}`,
      );
    }
    for (const m of medians) console.log(m);
  } finally {
    if (keep < 0) rmSync(dir, { recursive: true, force: true });
  }
}

await bench();
