// `shoal run` startup: wall time from spawning `shoal run -np N` to its exit, for ranks that
// only init() (rendezvous through the launcher's coordinator), barrier and close: the fixed
// cost every job pays before it reads a byte. Runs alternate between this build and, with
// --baseline, another build's dist/cli/cli.js (e.g. the previous commit's: `git archive C |
// tar -x -C DIR`, tsc there, node_modules and build/ linked), so both see the same load;
// prints the median of --repeat runs of each, their ratio, and the load average.
//
//   node bench/startup.mjs [--np 2] [--repeat 5] [--baseline DIR/dist/cli/cli.js]
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const flag = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
};
const np = Number(flag('np', '2'));
const repeat = Math.max(1, Number(flag('repeat', '5')));
const here = dirname(fileURLToPath(import.meta.url));
const builds = [{ name: 'this build', cli: resolve(here, '../dist/cli/cli.js') }];
const baseline = flag('baseline', '');
if (baseline) builds.push({ name: 'baseline', cli: resolve(baseline) });

/** One job: wall seconds, from spawn to exit. */
function runOnce(cli) {
  const index = resolve(dirname(cli), '../lib/index.js');
  const rank = `import { init } from ${JSON.stringify(index)}; const c = await init(); await c.barrier(); await c.close();`;
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [cli, 'run', '-np', String(np), '--', process.execPath, '--input-type=module', '-e', rank], { encoding: 'utf8', timeout: 120_000 });
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`${cli}: exit ${r.status}\n${r.stderr}`);
  return wall;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const load0 = loadavg();
const times = builds.map(() => []);
for (let i = 0; i < repeat; i++) {
  // Alternate the order so neither build always runs first.
  const order = i % 2 === 0 ? builds.map((_, k) => k) : builds.map((_, k) => k).reverse();
  for (const k of order) times[k].push(runOnce(builds[k].cli));
}
const load1 = loadavg();
console.log(`shoal run -np ${np}, init + barrier + close, median of ${repeat}; load average before ${load0.map((l) => l.toFixed(2)).join(' ')}, after ${load1.map((l) => l.toFixed(2)).join(' ')}`);
builds.forEach((b, k) => console.log(`${b.name}: median ${median(times[k]).toFixed(3)} s (runs ${times[k].map((t) => t.toFixed(2)).join(', ')})`));
if (builds.length === 2) console.log(`this build / baseline: ${(median(times[0]) / median(times[1])).toFixed(3)}`);
