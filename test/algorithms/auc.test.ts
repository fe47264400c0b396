// The one AUC (algorithms/common/auc.ts) against the pairwise definition, bit for bit: ties
// (down to all scores equal), -0/+0, NaN scores, one class, and across in-process ranks with
// uneven shards (one empty, one without positives).
import test from 'ava';

import { auc, aucLocal, mergeRuns } from '../../algorithms/common/auc.js';
import { localCollective } from '../../algorithms/common/collective.js';
import { binaryMetrics } from '../../algorithms/common/metrics.js';
import { inProcessWorld } from '../helpers/in_process_world.js';
import { Rng } from '../helpers/mulberry_rng.js';

/** Pairs (positive, negative) ordered right plus half the tied pairs, over all pairs; NaN ranks above every number and ties with NaN. */
function pairwiseAuc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const key = (s: number): number => (Number.isNaN(s) ? Number.POSITIVE_INFINITY : s);
  const nan = (s: number): number => (Number.isNaN(s) ? 1 : 0);
  let right = 0;
  let pairs = 0;
  for (let i = 0; i < scores.length; i++) {
    if (!(labels[i]! > 0)) continue;
    for (let j = 0; j < scores.length; j++) {
      if (labels[j]! > 0) continue;
      pairs++;
      const a = scores[i]!;
      const b = scores[j]!;
      // NaN first, then the value: a NaN beats +Infinity, two NaNs tie.
      const cmp = nan(a) - nan(b) || Math.sign(key(a) - key(b)) || 0;
      right += cmp > 0 ? 1 : cmp === 0 ? 0.5 : 0;
    }
  }
  return pairs === 0 ? Number.NaN : right / pairs;
}

function randomSet(rng: Rng, n: number, levels: number, withNaN: boolean): { scores: Float64Array; labels: Float32Array } {
  const scores = Float64Array.from({ length: n }, () => {
    if (withNaN && rng.int(20) === 0) return Number.NaN;
    const v = rng.int(levels) / levels;
    return rng.int(10) === 0 ? -v : v; // -0 and +0 both occur: one tie group
  });
  const labels = Float32Array.from({ length: n }, () => (rng.int(10) < 3 ? 1 : 0));
  return { scores, labels };
}

test('aucLocal is the pairwise AUC bit for bit on random data with ties, -0/+0 and NaN', (t) => {
  const rng = new Rng(23);
  for (let trial = 0; trial < 300; trial++) {
    const n = 2 + rng.int(300);
    const levels = [1, 2, 5, 50, 1e9][trial % 5]!;
    const { scores, labels } = randomSet(rng, n, levels, trial % 3 === 0);
    const want = pairwiseAuc(scores, labels);
    t.true(Object.is(aucLocal(scores, labels), want), `trial ${trial}: ${aucLocal(scores, labels)} vs ${want}`);
  }
});

test('aucLocal: all scores equal is 0.5; one class or no rows is NaN; unequal lengths are a RangeError', (t) => {
  t.is(aucLocal([0.3, 0.3, 0.3, 0.3], [1, 0, 0, 1]), 0.5);
  t.is(aucLocal([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]), 0.75);
  t.is(aucLocal([0.9, 0.1], [1, 0]), 1);
  t.is(aucLocal([0.1, 0.9], [1, 0]), 0);
  t.true(Number.isNaN(aucLocal([0.1, 0.2], [1, 1])));
  t.true(Number.isNaN(aucLocal([0.1, 0.2], [0, -1])));
  t.true(Number.isNaN(aucLocal([], [])));
  t.throws(() => aucLocal([0.1, 0.2], [1]), { instanceOf: RangeError, message: /2 scores but 1 labels/ });
});

test('auc across 3 in-process ranks (one shard empty, one without positives; ties, NaN) equals aucLocal of all rows', async (t) => {
  const rng = new Rng(29);
  for (const [levels, withNaN] of [[200, false], [1e9, true], [1, false], [7, true]] as const) {
    const n = 3000;
    const { scores, labels } = randomSet(rng, n, levels, withNaN);
    const cuts = [0, 1000, 1000, 1700, n];
    labels.fill(0, 1000, 1700);
    const want = aucLocal(scores, labels);
    t.false(Number.isNaN(want));
    t.true(Object.is(want, pairwiseAuc(scores, labels)));
    const world = inProcessWorld(4);
    const got = await Promise.all(world.map((c, r) => auc(c, scores.slice(cuts[r], cuts[r + 1]), labels.slice(cuts[r], cuts[r + 1]))));
    for (const g of got) t.true(Object.is(g, want), `levels ${levels}: ${g} vs ${want}`);
    // binaryMetrics carries the same AUC on every rank.
    const m = await Promise.all(world.map((c, r) => binaryMetrics(c, scores.slice(cuts[r], cuts[r + 1]), labels.slice(cuts[r], cuts[r + 1]))));
    const one = await binaryMetrics(localCollective(), scores, labels);
    for (const x of m) {
      t.true(Object.is(x.auc, one.auc));
      t.is(x.count, n);
    }
  }
  // One class over all ranks: NaN everywhere, not a throw.
  const world = inProcessWorld(2);
  const none = await Promise.all(world.map((c) => auc(c, Float64Array.of(0.2, 0.7), Float32Array.of(1, 1))));
  for (const g of none) t.true(Number.isNaN(g));
});

test('mergeRuns merges sorted runs (NaN last in each) into one sorted array', (t) => {
  const rng = new Rng(31);
  for (let trial = 0; trial < 50; trial++) {
    const runs = [0];
    const parts: number[] = [];
    for (let k = 1 + rng.int(5); k > 0; k--) {
      const run = Float64Array.from({ length: rng.int(30) }, () => (rng.int(15) === 0 ? Number.NaN : rng.int(10))).sort();
      parts.push(...run);
      runs.push(runs[runs.length - 1]! + run.length);
    }
    const a = Float64Array.from(parts);
    t.deepEqual(mergeRuns(a, runs), a.slice().sort());
  }
});
