// Parameter-server throughput: `npm run bench:ps -- --workers 2 --servers 2 --keys 1e6 --dim 1,16`
// Starts the workers and servers with the launcher, measures pull and push of unique random
// keys (AdaGrad), the CPU time all workers and servers spent per key (Linux, local servers:
// on a shared host it varies far less than wall-clock throughput), and the servers' memory
// per stored row after a --load-keys load.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { runJobForwardingSignals } from '../lib/job_signals.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

const workers = Number(arg('workers', '2'));
const servers = Number(arg('servers', '2'));
const keys = Math.round(Number(arg('keys', '1e6')));
const dims = arg('dim', '1,16').split(',').map(Number);
const iters = Number(arg('iters', '5'));
const loadKeys = Math.round(Number(arg('load-keys', '1e7')));
const replication = Number(arg('replication', '2'));
const json = arg('json', '');
// --ops push (or pull): measure only that operation, e.g. to profile one path with perf;
// --ops minibatch: pull then push of the same keys, another key set each step (ps_worker.ts).
const ops = arg('ops', 'pull,push').split(',');

const worker = fileURLToPath(new URL('./ps_worker.js', import.meta.url));
const rows: Array<Record<string, unknown>> = [];
// A `timeout` or Ctrl-C stops the servers and workers too (they run in process groups of their own).
const result = await runJobForwardingSignals({
  np: workers,
  servers,
  replication,
  command: [process.execPath, worker, JSON.stringify({ keys, dims, iters, loadKeys, ops })],
  quiet: true,
  onLine: (rank, stream, line) => {
    if (line.startsWith('RES ')) rows.push(JSON.parse(line.slice(4)) as Record<string, unknown>);
    else if (stream === 'stderr') process.stderr.write(`[${rank < 0 ? `s${-1 - rank}` : rank}] ${line}\n`);
  },
});
if (!result.ok) {
  console.error(result.summary);
  process.exit(1);
}
console.log(`Shoal parameter server: ${workers} workers, ${servers} servers (replication ${Math.min(replication, servers)}), ${keys} unique random keys per request, AdaGrad, node ${process.version}`);
console.log('op     dim   keys/s (all workers)     MB/s   CPU ns/key (workers + servers)');
for (const r of rows.filter((x) => x['op'] !== 'memory')) {
  console.log(
    `${String(r['op']).padEnd(5)} ${String(r['dim']).padStart(4)}   ${(Number(r['keysPerSec']) / 1e6).toFixed(2).padStart(10)} M       ${Number(r['MBps']).toFixed(0).padStart(6)}   ${Number(r['cpuNsPerKey']).toFixed(0).padStart(8)}`,
  );
}
const mem = rows.find((x) => x['op'] === 'memory');
if (mem) console.log(`memory: ${Number(mem['bytesPerStoredRow']).toFixed(2)} bytes per stored row (dim 1, AdaGrad) over ${mem['storedRows']} rows (${loadKeys} keys x replicas)`);
if (json) writeFileSync(json, JSON.stringify({ workers, servers, keys, dims, iters, loadKeys, node: process.version, rows }, null, 2));
