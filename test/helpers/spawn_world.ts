// Failure tests need ranks that outlive a dead peer long enough to report what they saw,
// which the launcher (rightly) does not allow: it stops the job at the first failure. This
// helper starts the launcher's Coordinator and spawns the ranks itself with the same
// environment contract, never kills on failure, and kills everything at the end.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { Coordinator } from '../../lib/coordinator.js';

export interface WorldRun {
  /** Per rank: stdout lines. */
  stdout: string[][];
  stderr: string[][];
  exits: Array<{ code: number | null; signal: NodeJS.Signals | null }>;
  timedOut: boolean;
}

export interface SpawnWorldOptions {
  /** Extra environment per rank (by rank) or for all. */
  env?: Record<string, string>;
  envForRank?: (rank: number) => Record<string, string>;
  wallTimeoutMs?: number;
  heartbeatTimeoutMs?: number;
}

const DIST_TEST_DIR = fileURLToPath(new URL('../', import.meta.url));

export async function spawnWorld(np: number, script: string, args: string[], opts: SpawnWorldOptions = {}): Promise<WorldRun> {
  const token = randomBytes(32).toString('hex');
  const coordinator = await Coordinator.start({ token, heartbeatTimeoutMs: opts.heartbeatTimeoutMs ?? 10_000, log: () => {} });
  const path = resolve(DIST_TEST_DIR, script).replace(/\.ts$/, '.js');
  const stdout: string[][] = Array.from({ length: np }, () => []);
  const stderr: string[][] = Array.from({ length: np }, () => []);
  const children: ChildProcess[] = [];
  const exits: WorldRun['exits'] = Array.from({ length: np }, () => ({ code: null, signal: null }));
  let timedOut = false;
  let wall: NodeJS.Timeout | undefined;
  try {
    await new Promise<void>((done) => {
      let left = np;
      wall = setTimeout(() => {
        timedOut = true;
        for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      }, opts.wallTimeoutMs ?? 60_000);
      for (let rank = 0; rank < np; rank++) {
        const child = spawn(process.execPath, [path, ...args], {
          env: {
            ...process.env,
            SHOAL_RANK: String(rank),
            SHOAL_SIZE: String(np),
            SHOAL_COORDINATOR: `127.0.0.1:${coordinator.port}`,
            SHOAL_TOKEN: token,
            SHOAL_LAUNCHER: 'shoal',
            ...opts.env,
            ...opts.envForRank?.(rank),
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        children.push(child);
        child.stdout!.on('data', collectLines(stdout[rank]!));
        child.stderr!.on('data', collectLines(stderr[rank]!));
        child.on('exit', (code, signal) => {
          exits[rank] = { code, signal };
          // As the launcher does: tell the survivors through the coordinator.
          if (signal || code !== 0) coordinator.markDead(rank, signal ? `killed by ${signal}` : `exited with code ${code}`);
          if (--left === 0) done();
        });
      }
    });
  } finally {
    clearTimeout(wall);
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await coordinator.close();
  }
  return { stdout, stderr, exits, timedOut };
}

function collectLines(into: string[]): (chunk: Buffer) => void {
  let buf = '';
  return (chunk) => {
    buf += chunk.toString();
    const lines = buf.split('\n');
    buf = lines.pop() ?? '';
    into.push(...lines);
  };
}
