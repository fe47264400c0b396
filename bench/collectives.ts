// Collective benchmark: Shoal side by side with OpenMPI, each over one or more transports.
//
//   node dist/bench/collectives.js [--np 2,4] [--sizes 8,4K,64K,1M,16M,64M]
//        [--ops allreduce,bcast,reduce] [--time 1.0] [--json FILE] [--no-mpi]
//        [--transports tcp,shm] [--mpi-btls tcp,sm]
//
// --transports runs the Shoal job once per SHOAL_TRANSPORT value; --mpi-btls runs OpenMPI once
// per transport (tcp: btl tcp,self over loopback; sm: its shared-memory btl vader,self).
// For each np, ranks are started through the launcher (runJob) running collectives_worker.js,
// which measures every (op, size) the way /work/shared/anchors/collectives/mpi_coll.c does
// (barrier-fenced iterations, per-iteration time = max over ranks, median/min/p90), and prints
// `RES {json}` lines on rank 0. When mpicc and mpirun are on PATH (and --no-mpi is not given),
// mpi_coll.c is compiled into bench/results/mpi_coll and run with the same sizes and budget.
// Output: one table; ratio = OpenMPI median time / Shoal median time (>1: Shoal is faster).
// Units: µs; GB/s = 1e9 B/s; busbw = algbw * 2(p-1)/p for allreduce, = algbw for reduce/bcast.
import { writeFileSync, mkdirSync } from 'node:fs';
import { arch, cpus, platform } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { startJob } from '../lib/launcher.js';
import { buildMpiColl, mpiAvailable, mpiBtlArgs, runMpiColl, type MpiBtl, type MpiRow, type MpiRun } from './mpi_anchor.js';

const here = dirname(fileURLToPath(import.meta.url));
// dist/bench/collectives.js -> repo root (two levels up), then the shared anchors next to it.
const repoRoot = resolve(here, '../..');
const resultsDir = resolve(repoRoot, 'bench/results');
const mpiSource = resolve(repoRoot, '../shared/anchors/collectives/mpi_coll.c');
const mpiBinary = resolve(resultsDir, 'mpi_coll');
const workerScript = resolve(here, 'collectives_worker.js');

type BenchOp = 'allreduce' | 'bcast' | 'reduce';
const ALL_OPS: readonly BenchOp[] = ['allreduce', 'reduce', 'bcast'];
type Transport = 'tcp' | 'shm' | 'auto';
const TRANSPORTS: readonly Transport[] = ['tcp', 'shm', 'auto'];
const MPI_BTLS: readonly MpiBtl[] = ['tcp', 'sm'];

interface Options {
  np: number[];
  sizes: number[];
  ops: BenchOp[];
  time: number;
  json: string | null;
  mpi: boolean;
  transports: Transport[];
  mpiBtls: MpiBtl[];
}

const USAGE = `usage: node dist/bench/collectives.js [--np 2,4] [--sizes 8,4K,64K,1M,16M,64M]
       [--ops allreduce,bcast,reduce] [--time 1.0] [--json FILE] [--no-mpi]
       [--transports tcp,shm] [--mpi-btls tcp,sm]
  --transports  Shoal runs, one per SHOAL_TRANSPORT (tcp, shm, auto; default auto)
  --mpi-btls    OpenMPI runs, one per transport (tcp: btl tcp,self; sm: btl vader,self; default tcp)
  --np     world sizes to run (default 2,4)
  --sizes  message sizes in bytes; K = 1024, M = 1024², G = 1024³ (default 8,4K,64K,1M,16M,64M)
  --ops    any of allreduce, bcast, reduce (default all three)
  --time   time budget per (op, size) point in seconds (default 1.0)
  --json   also write every row (and the run's metadata) to FILE
  --no-mpi skip the OpenMPI reference even when mpicc/mpirun are available`;

/** '8' -> 8, '4K' -> 4096, '1M' -> 1048576 (also '4k', '4KiB', '4KB'). */
export function parseSize(s: string): number {
  const m = /^(\d+)\s*([kmg]?)(i?b)?$/i.exec(s.trim());
  if (!m) throw new Error(`bad size '${s}' (examples: 8, 4K, 64K, 1M, 16M, 64M)`);
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g'];
  const n = Number(m[1]) * mult;
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`bad size '${s}': must be at least 1 byte`);
  return n;
}

function listOf<T extends string>(flag: string, raw: string, allowed: readonly T[]): T[] {
  return raw.split(',').map((s) => {
    const v = s.trim().toLowerCase();
    if (!(allowed as readonly string[]).includes(v)) throw new Error(`bad ${flag} entry '${s}' (${allowed.join(', ')})`);
    return v as T;
  });
}

function parseArgs(argv: string[]): Options {
  const o: Options = { np: [2, 4], sizes: [8, 4 << 10, 64 << 10, 1 << 20, 16 << 20, 64 << 20], ops: [...ALL_OPS], time: 1.0, json: null, mpi: true, transports: ['auto'], mpiBtls: ['tcp'] };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '--np':
        o.np = value().split(',').map((s) => {
          const n = Number(s);
          if (!Number.isInteger(n) || n < 1) throw new Error(`bad --np entry '${s}'`);
          return n;
        });
        break;
      case '--sizes':
        o.sizes = value().split(',').map(parseSize);
        break;
      case '--ops':
        o.ops = value().split(',').map((s) => {
          const op = s.trim().toLowerCase();
          if (!(ALL_OPS as readonly string[]).includes(op)) throw new Error(`bad op '${s}' (allreduce, bcast, reduce)`);
          return op as BenchOp;
        });
        break;
      case '--time':
        o.time = Number(value());
        if (!(o.time > 0 && o.time <= 60)) throw new Error(`--time must be in (0, 60] seconds`);
        break;
      case '--json':
        o.json = value();
        break;
      case '--transports':
        o.transports = listOf(flag, value(), TRANSPORTS);
        break;
      case '--mpi-btls':
        o.mpiBtls = listOf(flag, value(), MPI_BTLS);
        break;
      case '--no-mpi':
        o.mpi = false;
        break;
      case '-h':
      case '--help':
        console.log(USAGE);
        process.exit(0);
        break;
      default:
        throw new Error(`unknown argument '${flag}'`);
    }
  }
  return o;
}

interface ShoalRow {
  op: BenchOp;
  np: number;
  bytes: number;
  dtype: string;
  iters: number;
  warmup: number;
  med_us: number;
  min_us: number;
  p90_us: number;
  p99_us: number;
  algbw_GBs: number;
  busbw_GBs: number;
  b2b_us: number | null;
}

interface ShoalRun {
  ok: boolean;
  rows: ShoalRow[];
  checkErrors: number | null;
  summary: string;
  log: string[];
}

/** Upper bound on a run's wall time: warm-up + timed + b2b per point, launch, and slack. */
function wallLimitMs(o: Options, np: number): number {
  const points = o.ops.length * o.sizes.length;
  return Math.ceil((points * o.time * 3 * Math.max(1, np / 2) + 60) * 1000);
}

async function runShoal(o: Options, np: number, transport: Transport): Promise<ShoalRun> {
  const out: ShoalRun = { ok: false, rows: [], checkErrors: null, summary: '', log: [] };
  const workerArgs = ['--ops', o.ops.join(','), '--sizes', o.sizes.join(','), '--time', String(o.time)];
  const job = startJob({
    np,
    command: [process.execPath, workerScript, ...workerArgs],
    env: { SHOAL_TRANSPORT: transport },
    quiet: true,
    onLine: (rank, stream, line) => {
      if (rank === 0 && stream === 'stdout' && line.startsWith('RES ')) {
        const msg = JSON.parse(line.slice(4)) as { kind: string } & Record<string, unknown>;
        if (msg.kind === 'row') {
          const row = msg as unknown as ShoalRow & { kind?: string };
          delete row.kind;
          out.rows.push(row);
          process.stderr.write(`  shoal-${transport} ${row.op.padEnd(9)} np=${np} ${fmtSize(row.bytes).padStart(7)}  ${fmtUs(row.med_us).padStart(9)} µs  (${row.iters} iters)\n`);
        } else if (msg.kind === 'done') {
          out.checkErrors = Number(msg.check_errors);
        }
        return;
      }
      out.log.push(`[${rank}] ${stream}: ${line}`);
      process.stderr.write(`[${rank}] ${line}\n`);
    },
  });
  const limit = wallLimitMs(o, np);
  const timer = setTimeout(() => {
    out.log.push(`shoal job exceeded ${limit} ms; interrupting`);
    process.stderr.write(`shoal job exceeded ${limit} ms; interrupting\n`);
    job.interrupt('SIGTERM');
  }, limit);
  try {
    const res = await job.result;
    out.summary = res.summary;
    out.ok = res.ok && out.checkErrors === 0;
  } finally {
    clearTimeout(timer);
  }
  return out;
}

function fmtSize(bytes: number): string {
  const units: Array<[number, string]> = [[1024 ** 3, 'GiB'], [1024 ** 2, 'MiB'], [1024, 'KiB']];
  for (const [u, name] of units) if (bytes >= u && bytes % u === 0) return `${bytes / u} ${name}`;
  return `${bytes} B`;
}

function fmtUs(us: number | undefined): string {
  if (us === undefined || !Number.isFinite(us)) return '-';
  if (us < 100) return us.toFixed(2);
  if (us < 10000) return us.toFixed(1);
  return us.toFixed(0);
}

function fmtGBs(g: number | undefined): string {
  if (g === undefined || !Number.isFinite(g)) return '-';
  return g < 0.01 ? g.toFixed(4) : g.toFixed(3);
}

interface TableRow {
  op: BenchOp;
  np: number;
  bytes: number;
  /** By Shoal transport and by OpenMPI btl; null where the run has no such point. */
  shoal: Record<string, ShoalRow | null>;
  mpi: Record<string, MpiRow | null>;
  /** `${btl}/${transport}`: OpenMPI median / Shoal median (>1: Shoal faster). */
  ratio: Record<string, number | null>;
}

function printTable(rows: TableRow[], o: Options, mpiWanted: boolean): void {
  const btls = mpiWanted ? o.mpiBtls : [];
  const cols = ['op', 'np', 'size', ...o.transports.map((t) => `Shoal-${t} µs`), ...btls.map((b) => `OpenMPI-${b} µs`),
    ...btls.flatMap((b) => o.transports.map((t) => `OpenMPI-${b}/Shoal-${t}`))];
  const cells = rows.map((r) => [
    r.op,
    String(r.np),
    fmtSize(r.bytes),
    ...o.transports.map((t) => fmtUs(r.shoal[t]?.med_us)),
    ...btls.map((b) => fmtUs(r.mpi[b]?.med_us)),
    ...btls.flatMap((b) => o.transports.map((t) => r.ratio[`${b}/${t}`]?.toFixed(2) ?? '-')),
  ]);
  const widths = cols.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i]!.length)));
  const line = (vals: string[]): string => vals.map((v, i) => (i < 1 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join('  ');
  console.log(line(cols));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const c of cells) console.log(line(c));
}

async function main(): Promise<void> {
  let o: Options;
  try {
    o = parseArgs(process.argv.slice(2));
  } catch (err) {
    console.error(`collectives: ${(err as Error).message}\n${USAGE}`);
    process.exit(2);
  }
  mkdirSync(resultsDir, { recursive: true });

  let mpiReason: string | null = null;
  if (!o.mpi) mpiReason = '--no-mpi';
  else if (!mpiAvailable()) mpiReason = 'mpicc/mpirun not on PATH';
  else {
    try {
      buildMpiColl(mpiSource, mpiBinary);
    } catch (err) {
      mpiReason = (err as Error).message;
    }
  }
  const useMpi = mpiReason === null;

  const cpuModel = cpus()[0]?.model ?? 'unknown';
  console.log(`# Shoal collectives (SHOAL_TRANSPORT=${o.transports.join('|')}) vs OpenMPI (btl ${o.mpiBtls.join('|')}); float32 sum, root 0`);
  console.log(`# node ${process.version}, ${platform()}-${arch()}, ${cpus().length} cores (${cpuModel})`);
  console.log(`# np=${o.np.join(',')} sizes=${o.sizes.map(fmtSize).join(',')} ops=${o.ops.join(',')} time=${o.time}s/point`);
  if (!useMpi) console.log(`# OpenMPI reference skipped: ${mpiReason}`);

  // Keyed `${np}/${transport or btl}`; the runs alternate so slow phases of a noisy machine
  // hit every column alike.
  const shoalRuns: Record<string, ShoalRun> = {};
  const mpiRuns: Record<string, MpiRun> = {};
  let failed = false;
  for (const np of o.np) {
    for (const transport of o.transports) {
      process.stderr.write(`running Shoal np=${np} SHOAL_TRANSPORT=${transport} ...\n`);
      const s = await runShoal(o, np, transport);
      shoalRuns[`${np}/${transport}`] = s;
      if (!s.ok) {
        failed = true;
        console.error(`# Shoal np=${np} ${transport} failed: ${s.summary}; check_errors=${s.checkErrors ?? 'unknown'}`);
      }
    }
    for (const btl of useMpi ? o.mpiBtls : []) {
      process.stderr.write(`running OpenMPI np=${np} btl ${btl} ...\n`);
      const m = await runMpiColl(mpiBinary, np, o.time, o.sizes, wallLimitMs(o, np), btl);
      mpiRuns[`${np}/${btl}`] = m;
      if (!m.ok) {
        failed = true;
        console.error(`# OpenMPI np=${np} ${btl} failed (check_errors=${m.checkErrors ?? 'unknown'}):\n${m.log.slice(-20).join('\n')}`);
      }
    }
  }
  const mpiLibrary = Object.values(mpiRuns).find((m) => m.library)?.library ?? null;
  if (mpiLibrary) console.log(`# ${mpiLibrary}`);
  console.log('');

  const rows: TableRow[] = [];
  for (const op of o.ops) {
    for (const np of o.np) {
      for (const requested of o.sizes) {
        const bytes = Math.max(1, Math.floor(requested / 4)) * 4;
        const row: TableRow = { op, np, bytes, shoal: {}, mpi: {}, ratio: {} };
        for (const t of o.transports) row.shoal[t] = shoalRuns[`${np}/${t}`]?.rows.find((r) => r.op === op && r.bytes === bytes) ?? null;
        for (const b of useMpi ? o.mpiBtls : []) {
          const mpi = mpiRuns[`${np}/${b}`]?.rows.find((r) => r.op === op && r.bytes === bytes) ?? null;
          row.mpi[b] = mpi;
          for (const t of o.transports) {
            const shoal = row.shoal[t];
            row.ratio[`${b}/${t}`] = shoal && mpi ? mpi.med_us / shoal.med_us : null;
          }
        }
        rows.push(row);
      }
    }
  }
  printTable(rows, o, useMpi);
  console.log('\nmed µs: median over iterations of the slowest rank\'s time for one call (barrier-fenced).');
  console.log('busbw: GB/s (1e9 B/s); allreduce bytes/t*2(p-1)/p, reduce/bcast bytes/t. ratio: OpenMPI med / Shoal med (>1: Shoal faster).');

  if (o.json) {
    const file = resolve(process.cwd(), o.json);
    mkdirSync(dirname(file), { recursive: true });
    const doc = {
      bench: 'collectives',
      date: new Date().toISOString(),
      node: process.version,
      platform: `${platform()}-${arch()}`,
      cpu: cpuModel,
      cores: cpus().length,
      dtype: 'float32',
      reduceOp: 'sum',
      root: 0,
      options: o,
      mpi: useMpi ? { library: mpiLibrary, transports: Object.fromEntries(o.mpiBtls.map((b) => [b, mpiBtlArgs(b).join(' ')])) } : { skipped: mpiReason },
      definitions: {
        med_us: 'median over iterations of max-over-ranks time of one barrier-fenced call',
        algbw_GBs: 'bytes / med / 1e9',
        busbw_GBs: 'allreduce: algbw * 2(p-1)/p; reduce, bcast: algbw',
        ratio: 'OpenMPI med_us / Shoal med_us (>1: Shoal faster)',
        b2b_us: 'sizes <= 64 KiB: average of back-to-back calls without barriers, max over ranks',
      },
      rows,
      failures: {
        shoal: Object.entries(shoalRuns).filter(([, r]) => !r.ok).map(([run, r]) => ({ run, summary: r.summary, checkErrors: r.checkErrors, log: r.log.slice(-50) })),
        mpi: Object.entries(mpiRuns).filter(([, r]) => !r.ok).map(([run, r]) => ({ run, checkErrors: r.checkErrors, log: r.log.slice(-50) })),
      },
    };
    writeFileSync(file, JSON.stringify(doc, null, 2) + '\n');
    console.log(`\nSaved to: ${file}`);
  }
  if (failed) process.exitCode = 1;
}

await main();
