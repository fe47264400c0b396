// Wall and CPU time of one large allReduce, A/B between built checkouts, alternating rounds:
// on a shared machine the load moves the wall time a lot, the CPU all ranks spend per op less.
//
//   node bench/allreduce_cpu.mjs [--np 4] [--bytes 16M] [--iters 40] [--rounds 3] DIR...
//
// Each round runs, in every DIR in turn, `node DIR/dist/cli/cli.js run -np N` with this file as
// the rank program (it imports DIR/dist/lib, so each build runs its own code): a float32 sum
// allReduce of --bytes, --iters times back to back after one warm-up, timed on rank 0 (wall)
// and per rank with process.cpuUsage() (user + system, summed over ranks: the CPU the op costs,
// spinning and the kernel's copies included). Prints one line per run with the load average
// before it, then the medians per DIR.
import { execFileSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

if (process.env.ALLREDUCE_CPU_DIST) {
  const { init } = await import(`${process.env.ALLREDUCE_CPU_DIST}/lib/index.js`);
  const comm = await init();
  const buf = new Float32Array(Number(process.env.ALLREDUCE_CPU_BYTES) / 4).fill(1);
  const iters = Number(process.env.ALLREDUCE_CPU_ITERS);
  await comm.allReduce(buf);
  await comm.barrier();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < iters; i++) await comm.allReduce(buf);
  const wallMs = (performance.now() - t0) / iters;
  const cpu = process.cpuUsage(cpu0);
  console.log(`CPU_MS ${(cpu.user + cpu.system) / 1000 / iters}`);
  if (comm.rank === 0) console.log(`WALL_MS ${wallMs} DIRECT ${comm.directReads ?? 'n/a'}`);
  await comm.close();
  process.exit(0);
}

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  if (i < 0) return fallback;
  const value = args[i + 1];
  args.splice(i, 2);
  return value;
};
const np = Number(option('--np', '4'));
const sizeArg = option('--bytes', '16M');
const unit = { K: 1024, M: 1048576 }[sizeArg.slice(-1)] ?? 1;
const bytes = Number(unit === 1 ? sizeArg : sizeArg.slice(0, -1)) * unit;
const iters = Number(option('--iters', '40'));
const rounds = Number(option('--rounds', '3'));
const dirs = args.map((d) => resolve(d));
if (dirs.length === 0 || !(bytes > 0) || !(np > 1) || !(iters > 0) || !(rounds > 0)) {
  console.error('usage: node bench/allreduce_cpu.mjs [--np 4] [--bytes 16M] [--iters 40] [--rounds 3] DIR...');
  process.exit(2);
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const self = fileURLToPath(import.meta.url);
const results = new Map(dirs.map((d) => [d, { wall: [], cpu: [] }]));
for (let round = 1; round <= rounds; round++) {
  for (const dir of dirs) {
    const load = loadavg()[0].toFixed(1);
    const out = execFileSync(
      process.execPath,
      [resolve(dir, 'dist/cli/cli.js'), 'run', '-np', String(np), '-q', '--no-dashboard', '--', process.execPath, self],
      { env: { ...process.env, ALLREDUCE_CPU_DIST: resolve(dir, 'dist'), ALLREDUCE_CPU_BYTES: String(bytes), ALLREDUCE_CPU_ITERS: String(iters) }, encoding: 'utf8' },
    );
    const cpu = [...out.matchAll(/CPU_MS ([\d.]+)/g)].reduce((s, m) => s + Number(m[1]), 0);
    const wall = /WALL_MS ([\d.]+) DIRECT (\S+)/.exec(out);
    results.get(dir).wall.push(Number(wall?.[1]));
    results.get(dir).cpu.push(cpu);
    console.log(`round ${round} ${dir} np ${np} ${bytes} B, load ${load}: wall ${Number(wall?.[1]).toFixed(2)} ms/op, CPU of all ranks ${cpu.toFixed(2)} ms/op (direct reads agreed: ${wall?.[2]})`);
  }
}
for (const [dir, r] of results) console.log(`median ${dir}: wall ${median(r.wall).toFixed(2)} ms/op, CPU ${median(r.cpu).toFixed(2)} ms/op`);
