// What the sharded LR tests (test/algorithms/lr_sharded*.test.ts) share: the same generated rows
// twice (`shoal datagen --task binary`), once with ids 1..features (the dense model's) and once
// spread over a 2^64 id space (--id-space 64: keys the dense model refuses), in a temporary
// folder removed after the file's tests; and one `shoal train lr` run read back through its
// --metrics-out file.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import test from 'ava';
import { shoal } from './shoal_cli.js';

export interface DenseAndWideFiles {
  dir: string;
  /** Ids 1..features. */
  dense: string;
  /** The same rows, ids spread over 2^64. */
  wide: string;
}

/**
 * Registers the test file's hooks that generate both files, then run `prepare` (ava runs a
 * file's before hooks concurrently: what reads the files goes there), and remove the folder;
 * returns the paths.
 */
export function denseAndWideData(
  name: string,
  gen: { rows: number; features: number; nnz: number; seed: number },
  prepare?: (files: DenseAndWideFiles) => void,
): DenseAndWideFiles {
  const dir = mkdtempSync(join(tmpdir(), `shoal-${name}-`));
  const files = { dir, dense: join(dir, 'dense.svm'), wide: join(dir, 'wide64.svm') };
  test.after.always(() => rmSync(dir, { recursive: true, force: true }));
  test.before(async () => {
    const common = ['datagen', '--task', 'binary', '--rows', String(gen.rows), '--features', String(gen.features), '--nnz', String(gen.nnz), '--seed', String(gen.seed), '-q'];
    for (const [out, extra] of [[files.dense, []], [files.wide, ['--id-space', '64']]] as const) {
      const r = await shoal([...common, ...extra, '--out', out]);
      if (r.code !== 0) throw new Error(`datagen failed: ${r.stderr}`);
    }
    prepare?.(files);
  });
  return files;
}

/** A job's --metrics-out values, or only its exit code and stderr when it failed. */
export type LrRun<M> = M & { code: number | null; stderr: string };

/** `shoal train lr ARGS --metrics-out DIR/NAME.json` within `wallMs`. */
export async function trainLr<M>(dir: string, name: string, args: readonly string[], wallMs: number): Promise<LrRun<M>> {
  const out = join(dir, `${name}.json`);
  const r = await shoal(['train', 'lr', ...args, '--metrics-out', out], wallMs);
  if (r.code !== 0) return { code: r.code, stderr: r.stderr } as LrRun<M>;
  return { ...(JSON.parse(readFileSync(out, 'utf8')) as M), code: 0, stderr: r.stderr };
}

/** |a - b| / |b|. */
export function relative(a: number, b: number): number {
  return Math.abs(a - b) / Math.abs(b);
}

/**
 * What a job that lost parameter server 1 says: the workers name it when they see it go, but
 * under load the launcher may stop them first (150 ms after the server's death), and then its
 * summary names the server instead.
 */
export const SERVER_1_LOST = /parameter server 1 (was )?lost|shoal run: server 1 was killed by SIGKILL \(first failure\)/;
