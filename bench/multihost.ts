// Multi-host benchmark on pretend hosts (test/helpers/netns_hosts.ts: network namespaces on a
// bridge, each host's egress capped with tbf): Shoal's allReduce across hosts, with the
// topology-aware algorithm and with the flat one (SHOAL_HIERARCHICAL=0), and OpenMPI's
// (mpi_coll.c, the same measurement as bench/collectives.ts) on the same namespaces, launched
// the same way (`shoal run --hostfile --rsh` / `mpirun --mca plm_rsh_agent`, the rsh stand-in
// entering a namespace).
//
// Scenarios:
//   2x2: 2 hosts x 2 ranks, 16 MiB, --rate Mbit/s per host (default 1000): topology-aware
//        (the streamed two-host form, all_reduce_two_hosts.cc), the phased form
//        (SHOAL_HIERARCHICAL=phased) and the flat ring, one after the other, --repeat times.
//   4x1: 4 hosts x 1 rank, 16 MiB and 64 MiB: ring busbw against the cap.
// Needs root, iproute2; OpenMPI rows need mpicc/mpirun (skipped otherwise).
//
// Usage: npm run bench:multihost [-- --rate 1000 --time 3 --no-mpi --only 2x2|4x1 --repeat 1]
// With --repeat N > 1 each implementation runs N times, interleaved, and a last table gives
// the median of the N medians.
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { NetnsHosts, netnsUnavailable } from '../test/helpers/netns_hosts.js';
import { buildMpiColl, mpiAvailable, parseMpiLine } from './mpi_anchor.js';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, '../..');
const CLI = resolve(here, '../cli/cli.js');
const WORKER = resolve(here, 'collectives_worker.js');
const mpiSource = resolve(repoRoot, '../shared/anchors/collectives/mpi_coll.c');
const mpiBinary = resolve(repoRoot, 'bench/results/mpi_coll');

type Mode = 'streamed' | 'phased' | 'flat';
const MODE_ENV: Record<Mode, string> = { streamed: '1', phased: 'phased', flat: '0' };
const MODE_NAME: Record<Mode, string> = { streamed: 'shoal (topology-aware, streamed)', phased: 'shoal (topology-aware, phased)', flat: 'shoal (flat ring)' };

interface Row {
  scenario: string;
  repeat: number;
  impl: string;
  bytes: number;
  med_ms: number;
  min_ms: number;
  p90_ms: number;
  busbw_Gbit: number;
  cap_Gbit: number;
}

function parseArgs(argv: string[]): { rate: number; time: number; mpi: boolean; only: string | null; repeat: number } {
  const out: { rate: number; time: number; mpi: boolean; only: string | null; repeat: number } = { rate: 1000, time: 3, mpi: true, only: null, repeat: 1 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--rate') out.rate = Number(argv[++i]);
    else if (a === '--time') out.time = Number(argv[++i]);
    else if (a === '--no-mpi') out.mpi = false;
    else if (a === '--only') out.only = argv[++i] ?? null;
    else if (a === '--repeat') out.repeat = Number(argv[++i]);
    else throw new Error(`bench:multihost: unknown flag ${a}`);
  }
  if (!(out.rate > 0) || !(out.time > 0)) throw new Error('bench:multihost: --rate and --time must be positive numbers');
  if (!Number.isInteger(out.repeat) || out.repeat < 1) throw new Error('bench:multihost: --repeat must be an integer >= 1');
  return out;
}

/** Runs a command in host 0's namespace and collects stdout lines (bounded). */
function runIn(hosts: NetnsHosts, cmd: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<{ code: number | null; lines: string[]; stderr: string }> {
  return new Promise((resolvePromise) => {
    const child = hosts.spawn(0, cmd, { stdio: ['ignore', 'pipe', 'pipe'], env });
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, lines: out.split('\n'), stderr: err });
    });
  });
}

/** busbw of an allReduce in Gbit/s: bytes * 2(p-1)/p per rank over the time. */
function busbw(bytes: number, p: number, seconds: number): number {
  return (bytes * 8 * (2 * (p - 1)) / p / seconds) / 1e9;
}

async function shoalRows(hosts: NetnsHosts, scenario: string, slots: number, sizes: number[], time: number, mode: Mode, capGbit: number, repeat: number, extra: string[] = []): Promise<Row[]> {
  const hostfile = hosts.hostfile(slots, `hostfile-${scenario}`);
  // -x: a real remote shell passes no environment; the stand-in would, so be explicit.
  const cmd = [process.execPath, CLI, 'run', '--hostfile', hostfile, '--rsh', hosts.rsh, '-q', '--no-dashboard', '-x', `SHOAL_HIERARCHICAL=${MODE_ENV[mode]}`, ...extra.flatMap((e) => ['-x', e]), '--', process.execPath, WORKER, '--ops', 'allreduce', '--sizes', sizes.join(','), '--time', String(time)];
  const r = await runIn(hosts, cmd, process.env, 600_000);
  if (r.code !== 0) throw new Error(`shoal run failed (${r.code}):\n${r.stderr.slice(-3000)}`);
  const p = hosts.names.length * slots;
  const rows: Row[] = [];
  for (const line of r.lines) {
    const m = /^\[0\] RES (.*)$/.exec(line);
    if (!m) continue;
    const res = JSON.parse(m[1]!) as { kind?: string; op?: string; bytes?: number; med_us?: number; min_us?: number; p90_us?: number; check_errors?: number };
    if (res.kind === 'done' && res.check_errors !== 0) throw new Error(`shoal: ${res.check_errors} check errors`);
    if (res.op !== 'allreduce' || res.bytes === undefined) continue;
    rows.push({ scenario, repeat, impl: slots === 1 ? 'shoal (ring)' : MODE_NAME[mode], bytes: res.bytes, med_ms: res.med_us! / 1e3, min_ms: res.min_us! / 1e3, p90_ms: res.p90_us! / 1e3, busbw_Gbit: busbw(res.bytes, p, res.med_us! / 1e6), cap_Gbit: capGbit });
  }
  return rows;
}

async function mpiRows(hosts: NetnsHosts, scenario: string, slots: number, sizes: number[], time: number, capGbit: number, repeat: number): Promise<Row[]> {
  const hostfile = hosts.hostfile(slots, `mpi-hostfile-${scenario}`);
  const p = hosts.names.length * slots;
  const cmd = [
    'mpirun', '--allow-run-as-root', '--hostfile', hostfile, '-np', String(p), '--mca', 'plm_rsh_agent', hosts.rsh,
    // OpenMPI at its best here: shared memory within a host, TCP on the hosts' subnet between them.
    '--mca', 'pml', 'ob1', '--mca', 'btl', 'tcp,vader,self', '--mca', 'btl_tcp_if_include', '10.77.0.0/24', '--mca', 'oob_tcp_if_include', '10.77.0.0/24',
    mpiBinary, String(time), ...sizes.map(String),
  ];
  const r = await runIn(hosts, cmd, process.env, 600_000);
  if (r.code !== 0) throw new Error(`mpirun failed (${r.code}):\n${r.stderr.slice(-3000)}`);
  const rows: Row[] = [];
  for (const line of r.lines) {
    const row = parseMpiLine(line);
    if (!row || row.op !== 'allreduce') continue;
    rows.push({ scenario, repeat, impl: 'OpenMPI (tcp,vader)', bytes: row.bytes, med_ms: row.med_us / 1e3, min_ms: row.min_us / 1e3, p90_ms: row.p90_us / 1e3, busbw_Gbit: busbw(row.bytes, p, row.med_us / 1e6), cap_Gbit: capGbit });
  }
  return rows;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const why = netnsUnavailable();
  if (why) {
    console.log(`bench:multihost skipped: ${why}`);
    return;
  }
  const mpi = args.mpi && mpiAvailable();
  if (mpi) buildMpiColl(mpiSource, mpiBinary);
  const cap = args.rate / 1000;
  const rows: Row[] = [];
  const scenarios: Array<{ name: string; hosts: number; slots: number; sizes: number[] }> = [
    { name: '2 hosts x 2 ranks', hosts: 2, slots: 2, sizes: [16 << 20] },
    { name: '4 hosts x 1 rank', hosts: 4, slots: 1, sizes: [16 << 20, 64 << 20] },
    // The floor under 2x2's topology-aware time: the same bytes leave each host, no intra-host phases.
    { name: '2 hosts x 1 rank', hosts: 2, slots: 1, sizes: [16 << 20] },
  ];
  for (const s of scenarios) {
    if (args.only !== null && args.only !== `${s.hosts}x${s.slots}`) continue;
    const hosts = NetnsHosts.create({ hosts: s.hosts, rateMbit: args.rate });
    try {
      for (let rep = 1; rep <= args.repeat; rep++) {
        const modes: Mode[] = s.slots > 1 ? ['streamed', 'phased', 'flat'] : ['streamed'];
        for (const mode of modes) rows.push(...(await shoalRows(hosts, s.name, s.slots, s.sizes, args.time, mode, cap, rep)));
        if (mpi) rows.push(...(await mpiRows(hosts, s.name, s.slots, s.sizes, args.time, cap, rep)));
      }
    } finally {
      hosts.destroy();
    }
  }
  console.log(`# bench:multihost: egress cap ${args.rate} Mbit/s per host (tbf), ${args.time} s per size; busbw = bytes * 2(p-1)/p / median, Gbit/s`);
  console.log('| scenario | implementation | size | run | median ms | min ms | p90 ms | busbw Gbit/s | busbw / cap |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    console.log(`| ${r.scenario} | ${r.impl} | ${r.bytes >> 20} MiB | ${r.repeat} | ${r.med_ms.toFixed(1)} | ${r.min_ms.toFixed(1)} | ${r.p90_ms.toFixed(1)} | ${r.busbw_Gbit.toFixed(3)} | ${(r.busbw_Gbit / r.cap_Gbit * 100).toFixed(0)}% |`);
  }
  if (args.repeat > 1) {
    console.log('\n| scenario | implementation | size | median of the run medians, ms | each run |');
    console.log('|---|---|---|---|---|');
    const groups = new Map<string, Row[]>();
    for (const r of rows) {
      const key = `${r.scenario}|${r.impl}|${r.bytes}`;
      groups.set(key, [...(groups.get(key) ?? []), r]);
    }
    for (const g of groups.values()) {
      const meds = g.map((r) => r.med_ms).sort((a, b) => a - b);
      console.log(`| ${g[0]!.scenario} | ${g[0]!.impl} | ${g[0]!.bytes >> 20} MiB | ${meds[Math.floor(meds.length / 2)]!.toFixed(1)} | ${g.map((r) => r.med_ms.toFixed(1)).join(' / ')} |`);
    }
  }
  mkdirSync(resolve(repoRoot, 'bench/results'), { recursive: true });
  writeFileSync(resolve(repoRoot, 'bench/results/multihost.json'), `${JSON.stringify({ rateMbit: args.rate, time: args.time, rows }, null, 2)}\n`);
}

await main();
