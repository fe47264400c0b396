// Shared by the logistic-regression benchmarks (linear.ts, lr_sharded.ts): --name value flags,
// a command timed from spawn to exit, and liblinear's objective of its model file evaluated
// with Shoal's code (same convention).
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

import { localCollective } from '../algorithms/common/collective.js';
import { linearLayout } from '../algorithms/common/logistic.js';
import { objective } from '../algorithms/common/metrics.js';
import { readLibsvm } from '../lib/data/libsvm.js';

/** The value after `--name` on the command line, else `dflt`. */
export function flag(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? (process.argv[i + 1] ?? dflt) : dflt;
}

export interface TimedRun {
  code: number | null;
  stdout: string;
  stderr: string;
  seconds: number;
}

/** Runs `cmd`; `onStart` gets the child's pid (e.g. to watch its memory). */
export function runTimed(cmd: string, args: string[], onStart?: (pid: number) => void): Promise<TimedRun> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    if (onStart && child.pid !== undefined) onStart(child.pid);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr, seconds: (performance.now() - t0) / 1000 }));
  });
}

export type Penalty = 'l2' | 'l1';

/** liblinear's objective (0.5||w||^2 or ||w||_1, + C * sum log-loss, C = 1) of its model file on `file`. */
export async function liblinearObjective(file: string, model: string, penalty: Penalty): Promise<number> {
  // Model file: header lines, then "w", then one weight per feature id 1..n; weights are for
  // the first label listed, so flip the sign when that label is not the positive one.
  const lines = readFileSync(model, 'utf8').split('\n');
  const labelLine = lines.find((l) => l.startsWith('label ')) ?? 'label 1 -1';
  const first = Number(labelLine.split(/\s+/)[1]);
  const at = lines.indexOf('w');
  const ws = lines.slice(at + 1).filter((l) => l.trim() !== '').map((l) => Number(l.trim()));
  const data = await readLibsvm(file);
  const numFeatures = Math.max(data.maxFeatureId + 1, ws.length + 1);
  const w = new Float64Array(numFeatures);
  ws.forEach((v, j) => (w[j + 1] = first > 0 ? v : -v));
  return objective(localCollective(), data, w, linearLayout(numFeatures, false), 1, penalty === 'l2' ? { l2: 1, l1: 0 } : { l2: 0, l1: 1 });
}
