// Same-session A/B of two builds of this repository on the collectives benchmark: runs
// `node dist/bench/collectives.js ARGS --json ...` in BEFORE, then in AFTER, ROUNDS times
// alternating (the load of a shared machine then hits both alike), and prints one markdown
// table: per point the median over rounds of Shoal's and OpenMPI's median time and of the
// per-run ratio (OpenMPI / Shoal, > 1: Shoal faster), with each round's ratio and the load.
//
//   node bench/compare_builds.mjs BEFORE_DIR AFTER_DIR [ROUNDS=3] -- --np 2,4 --sizes 8,4K,64K
//
// Each directory is a built checkout (dist/ and build/Release/); BEFORE is typically a copy of
// main built with `npm run build`. JSON of every run goes to bench/results/compare/.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';

const sep = process.argv.indexOf('--');
const [before, after, roundsArg] = process.argv.slice(2, sep < 0 ? undefined : sep);
if (!before || !after) {
  console.error('usage: node bench/compare_builds.mjs BEFORE_DIR AFTER_DIR [ROUNDS] -- <collectives.js args>');
  process.exit(2);
}
const rounds = Number(roundsArg ?? 3);
const args = sep < 0 ? [] : process.argv.slice(sep + 1);
const outDir = resolve('bench/results/compare');
mkdirSync(outDir, { recursive: true });

const builds = { before: resolve(before), after: resolve(after) };
const runs = { before: [], after: [] };
const loads = [];
for (let i = 1; i <= rounds; i++) {
  for (const [label, dir] of Object.entries(builds)) {
    const json = resolve(outDir, `${label}-${i}.json`);
    loads.push(`${label} ${i}: load ${loadavg()[0].toFixed(1)}`);
    execFileSync(process.execPath, ['dist/bench/collectives.js', ...args, '--json', json], { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
    runs[label].push(JSON.parse(readFileSync(json, 'utf8')).rows);
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
};
const size = (b) => (b >= 1 << 20 ? `${b / (1 << 20)} MiB` : b >= 1024 ? `${b / 1024} KiB` : `${b} B`);
const points = new Map();
for (const [label, list] of Object.entries(runs)) {
  for (const rows of list) {
    for (const r of rows) {
      const shoal = Object.values(r.shoal ?? {})[0];
      const mpi = Object.values(r.mpi ?? {})[0];
      if (!shoal || !mpi) continue;
      const key = `${r.op}|${r.np}|${r.bytes}`;
      if (!points.has(key)) points.set(key, { op: r.op, np: r.np, bytes: r.bytes, before: [], after: [] });
      points.get(key)[label].push({ s: shoal.med_us, m: mpi.med_us });
    }
  }
}
console.log('| op | np | size | before: Shoal µs / OpenMPI µs | before ratio (runs) | after: Shoal µs / OpenMPI µs | after ratio (runs) |');
console.log('|---|---|---|---|---|---|---|');
for (const p of points.values()) {
  const cells = ['before', 'after'].map((l) => {
    const v = p[l];
    const ratios = v.map((x) => x.m / x.s);
    return `${median(v.map((x) => x.s)).toFixed(1)} / ${median(v.map((x) => x.m)).toFixed(1)} | **${median(ratios).toFixed(2)}** (${ratios.map((x) => x.toFixed(2)).join(', ')})`;
  });
  console.log(`| ${p.op} | ${p.np} | ${size(p.bytes)} | ${cells.join(' | ')} |`);
}
console.log(`\n${loads.join('; ')}`);
