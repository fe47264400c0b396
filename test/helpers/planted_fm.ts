// Data from a planted order-2 factorization machine, for the FM tests (AdaGrad, ALS, MCMC).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { Rng } from './mulberry_rng.js';

/**
 * Ratings from a planted FM: one-hot user (1..U) and item (U+1..U+I),
 * y = 1 + b_u + b_i + <p_u, q_i> + N(0, noise^2), k = 4, from the given seed. Returns
 * [train, test] libsvm text and the noise's RMSE on the test rows.
 */
export function plantedRatings(users: number, items: number, rows: number, testRows: number, noise: number, seed = 11): [string, string, number] {
  const rng = new Rng(seed);
  const k = 4;
  const bu = Array.from({ length: users }, () => 0.4 * rng.normal());
  const bi = Array.from({ length: items }, () => 0.4 * rng.normal());
  const p = Array.from({ length: users }, () => Array.from({ length: k }, () => 0.5 * rng.normal()));
  const q = Array.from({ length: items }, () => Array.from({ length: k }, () => 0.5 * rng.normal()));
  const lines: string[] = [];
  let sq = 0;
  for (let r = 0; r < rows + testRows; r++) {
    const u = rng.int(users);
    const i = rng.int(items);
    let y = 1 + bu[u]! + bi[i]!;
    for (let f = 0; f < k; f++) y += p[u]![f]! * q[i]![f]!;
    const yy = y + noise * rng.normal();
    if (r >= rows) sq += (yy - y) ** 2;
    lines.push(`${yy.toFixed(4)} ${u + 1}:1 ${users + i + 1}:1`);
  }
  return [lines.slice(0, rows).join('\n') + '\n', lines.slice(rows).join('\n') + '\n', Math.sqrt(sq / testRows)];
}


/** The FM tests' planted set (300 users, 200 items, 24000 + 4000 ratings, noise 0.2) written into `dir`. */
export function writePlantedRatings(dir: string): { trainFile: string; testFile: string; noiseRmse: number } {
  const [train, test, noiseRmse] = plantedRatings(300, 200, 24000, 4000, 0.2);
  const trainFile = join(dir, 'planted.train');
  const testFile = join(dir, 'planted.test');
  writeFileSync(trainFile, train);
  writeFileSync(testFile, test);
  return { trainFile, testFile, noiseRmse };
}
