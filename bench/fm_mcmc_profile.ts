// Where an MCMC iteration's CPU time goes: trains in process at np 1 (no collectives) on
// MovieLens u1 and wraps every native FM kernel with process.cpuUsage(), so the table shows
// each kernel's CPU milliseconds per iteration and the rest (JS: hyper-parameter draws, w0,
// bookkeeping). CPU time, not wall time: the machine is shared.
//
//   node dist/bench/fm_mcmc_profile.js [--task regression|binary] [--iterations N] [--data DIR]
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { localCollective } from '../algorithms/common/collective.js';
import { trainFmCoordinate } from '../algorithms/fm/coordinate_solver.js';
import { readLibsvm } from '../lib/data/libsvm.js';
import { native } from '../lib/native.js';

function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? String(process.argv[i + 1]) : fallback;
}

const task = option('task', 'regression') as 'regression' | 'binary';
const iterations = Number(option('iterations', '100'));
const file = join(option('data', '/work/shared/data/movielens100k'), 'u1.base.libfm');
if (!existsSync(file)) {
  console.log(`fm_mcmc_profile: ${file} not found; nothing to run`);
} else {
  const kernels = native.fm as unknown as Record<string, (...args: unknown[]) => unknown>;
  const cpuMs: Record<string, number> = {};
  for (const name of Object.keys(kernels)) {
    const kernel = kernels[name]!;
    // blockStats of the first step of an iteration (withOnes: u1's user block) apart from the others.
    const label = (args: unknown[]): string => (name === 'blockStats' ? `blockStats (${args[10] ? 'first step' : 'later steps'})` : name);
    kernels[name] = (...args: unknown[]) => {
      const c = process.cpuUsage();
      const out = kernel(...args);
      const d = process.cpuUsage(c);
      const key = label(args);
      cpuMs[key] = (cpuMs[key] ?? 0) + (d.user + d.system) / 1000;
      return out;
    };
  }
  const data = await readLibsvm(file);
  const r = await trainFmCoordinate(
    { solver: 'mcmc', task, factors: 8, iterations, seed: 1, initStd: task === 'binary' ? 0.2 : 0.1, l2w: 0, l2v: 0, burnIn: 10, keepSamples: 1, labelThreshold: 4 },
    data,
    { comm: localCollective() },
  );
  const total = (r.cpuSeconds * 1000) / iterations;
  let native_ = 0;
  console.log(`| part | cpu ms/iter |\n|---|---|`);
  for (const [name, ms] of Object.entries(cpuMs)) {
    native_ += ms / iterations;
    console.log(`| ${name} | ${(ms / iterations).toFixed(2)} |`);
  }
  console.log(`| rest (JS) | ${(total - native_).toFixed(2)} |`);
  console.log(`| total (${task}, np 1, ${iterations} iterations) | ${total.toFixed(2)} |`);
}
