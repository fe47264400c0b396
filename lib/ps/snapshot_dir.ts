// Parameter-server snapshots as generations: ps.save(DIR) writes a fresh DIR/gen-<time>-<pid>/
// (every server's shard files, then its manifest) and only then points DIR/CURRENT at it
// (temporary file + rename), so a job that dies in the middle of a save leaves the previous
// snapshot intact and loadable; older generations are removed after the switch. A DIR without
// CURRENT is read as a snapshot itself (the layout before generations).
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';

export const CURRENT_FILE = 'CURRENT';
const GENERATION = /^gen-\d+-\d+$/;

/** Creates a new, empty generation directory under `dir`; returns its absolute path. */
export async function newGeneration(dir: string): Promise<string> {
  const gen = join(resolve(dir), `gen-${Date.now()}-${process.pid}`);
  await mkdir(gen, { recursive: true });
  return gen;
}

/** Makes `gen` the snapshot of `dir` (atomically), then removes the older generations. */
export async function publishGeneration(dir: string, gen: string): Promise<void> {
  const abs = resolve(dir);
  const name = gen.slice(abs.length + 1);
  const tmp = join(abs, `${CURRENT_FILE}.tmp-${process.pid}`);
  await writeFile(tmp, `${name}\n`);
  await rename(tmp, join(abs, CURRENT_FILE));
  await removeGenerationsBut(abs, name);
}

/** Removes every generation under `dir` but the one named `keep`. */
export async function removeGenerationsBut(dir: string, keep: string): Promise<void> {
  for (const entry of await readdir(dir)) {
    if (GENERATION.test(entry) && entry !== keep) await rm(join(dir, entry), { recursive: true, force: true });
  }
}

/** The directory holding the current snapshot of `dir` (follows CURRENT when there is one). */
export function currentSnapshotDir(dir: string): string {
  const abs = resolve(dir);
  const pointer = join(abs, CURRENT_FILE);
  if (!existsSync(pointer)) return abs;
  const name = readFileSync(pointer, 'utf8').trim();
  if (!GENERATION.test(name)) throw new Error(`ps snapshot ${pointer} names ${JSON.stringify(name)}, not a snapshot generation`);
  return join(abs, name);
}
