// Multi-process test helper: runs `np` ranks of a node script through the real launcher
// (runJob), captures each rank's output, and bounds the whole job with a wall-clock limit so a
// hung rank fails the test instead of hanging it.

import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startJob, type JobHandle, type JobResult, type RunOptions } from '../../lib/launcher.js';

export interface RanksRun {
  result: JobResult;
  /** Per rank, stdout and stderr lines in arrival order. */
  output: string[][];
  stdout: string[][];
  stderr: string[][];
  /** True when the wall-clock limit stopped the job. */
  timedOut: boolean;
}

export interface RunRanksOptions extends Partial<Omit<RunOptions, 'np' | 'command' | 'onLine'>> {
  /** Stop the job (SIGTERM, then SIGKILL after killGraceMs) after this long; default 60000. */
  wallTimeoutMs?: number;
  /** Also echo lines to this process's stderr as `[rank] line` (debugging). */
  echo?: boolean;
  /** Called with the job's handle once it started, and with every line (tests that act mid-job). */
  onStart?: (job: JobHandle) => void;
  onLine?: (rank: number, stream: 'stdout' | 'stderr', line: string) => void;
}

/** dist/test/ — scripts given as relative paths are resolved here (e.g. 'workers/x.worker.js'). */
const DIST_TEST_DIR = fileURLToPath(new URL('../', import.meta.url));
/** test/fixtures/ in the source tree (fixtures are plain .mjs, not compiled). */
const FIXTURES_DIR = fileURLToPath(new URL('../../../test/fixtures/', import.meta.url));

/** Absolute path of a fixture script in test/fixtures. */
export function fixturePath(name: string): string {
  return resolve(FIXTURES_DIR, name);
}

/**
 * Runs `node <script> ...args` as `np` ranks under the launcher.
 * `script` is absolute, or relative to dist/test; a `.ts` suffix is mapped to the compiled `.js`.
 * @example
 *   const { result, output } = await runRanks(3, 'workers/all_reduce.worker.ts', ['--count', '10']);
 *   t.true(result.ok, result.summary);
 */
export async function runRanks(np: number, script: string, args: string[] = [], opts: RunRanksOptions = {}): Promise<RanksRun> {
  const { wallTimeoutMs = 60_000, echo = false, onStart, onLine, ...runOpts } = opts;
  const path = (isAbsolute(script) ? script : resolve(DIST_TEST_DIR, script)).replace(/\.ts$/, '.js');
  const stdout: string[][] = Array.from({ length: np }, () => []);
  const stderr: string[][] = Array.from({ length: np }, () => []);
  const output: string[][] = Array.from({ length: np }, () => []);
  const job = startJob({
    quiet: true,
    killGraceMs: 2000,
    onDashboard: () => undefined,
    ...runOpts,
    np,
    command: [process.execPath, path, ...args],
    onLine: (rank, stream, line) => {
      (stream === 'stdout' ? stdout : stderr)[rank]?.push(line);
      output[rank]?.push(line);
      if (echo) process.stderr.write(`[${rank}] ${line}\n`);
      onLine?.(rank, stream, line);
    },
  });
  onStart?.(job);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    job.interrupt('SIGTERM');
  }, wallTimeoutMs);
  try {
    const result = await job.result;
    return { result, output, stdout, stderr, timedOut };
  } finally {
    clearTimeout(timer);
  }
}
