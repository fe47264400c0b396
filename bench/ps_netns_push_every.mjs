// FTRL across pretend hosts at one egress cap (bench/ps_netns_job.ts): plain against
// `--pipeline --ps-cache 2` pushing every minibatch (--push-every 1) and once per window (the
// default with --ps-cache), alternating. Checks whether the window's single push holds back the
// next window's pull on a full link (BENCHMARKS.md "Minibatch pipeline", fourth pass).
//   node bench/ps_netns_push_every.mjs DATA_DIR [--rate MBIT] [--repeat N]
// DATA_DIR: `node dist/bench/ps_algos.js --keep DIR ...` leaves binary.svm and binary.svm.test there.
// Needs root and `ip` (network namespaces); run `npm run build` first.
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { netnsUnavailable } from '../dist/test/helpers/netns_hosts.js';
import { PsNetnsJob } from '../dist/bench/ps_netns_job.js';

const dir = process.argv[2];
if (!dir) throw new Error('usage: node bench/ps_netns_push_every.mjs DATA_DIR [--rate MBIT] [--repeat N]');
const flag = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const why = netnsUnavailable();
if (why) {
  console.log(`ps_netns_push_every skipped: ${why}`);
  process.exit(0);
}
const rate = flag('rate', 100);
const repeat = flag('repeat', 3);
const base = ['--train', join(dir, 'binary.svm'), '--test', join(dir, 'binary.svm.test'), '--servers', '2', '--hash-bits', '24', '--alpha', '0.1', '--batch', '256', '-np', '2', '--quiet'];
const variants = { plain: ['--no-pipeline'], 'cache, push every minibatch': ['--pipeline', '--ps-cache', '2', '--push-every', '1'], 'cache, push once per window': ['--pipeline', '--ps-cache', '2'] };
const load = () => loadavg().map((x) => x.toFixed(2)).join(' ');
console.log(`ftrl np 2, 2 servers, egress cap ${rate} Mbit/s; load average before: ${load()}`);
const job = new PsNetnsJob({ servers: 2, maxWorkers: 2, rateMbit: rate });
const results = {};
try {
  for (let i = 0; i < repeat; i++) {
    for (const [name, flags] of Object.entries(variants)) {
      const out = join(dir, 'push_every.metrics.json');
      const { code } = await job.run('ftrl', 2, [...base, ...flags, '--metrics-out', out]);
      if (code !== 0) throw new Error(`${name}: exit code ${code}`);
      const m = JSON.parse(readFileSync(out, 'utf8'));
      (results[name] ??= []).push(m);
    }
  }
} finally {
  job.destroy();
}
for (const [name, ms] of Object.entries(results)) {
  const rps = ms.map((m) => m.rows_per_second);
  const median = [...rps].sort((a, b) => a - b)[Math.floor(rps.length / 2)];
  console.log(`${name}: median ${median} rows/s (each run ${rps.join(' ')}), auc ${ms.map((m) => m.auc.toFixed(4)).join(' ')}`);
}
console.log(`load average after: ${load()}`);
