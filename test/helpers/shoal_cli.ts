// Runs the `shoal` CLI (dist/cli/cli.js) as a child process, as a user would, with a wall-clock
// bound: past it the CLI gets SIGTERM, and its launcher stops the ranks it started. runCli()
// gives each stdout line to a callback, for tests that act on the job while it runs.
import type { ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../../cli/cli.js', import.meta.url));

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface ShoalOptions {
  /** The CLI's environment; default this process's. */
  env?: NodeJS.ProcessEnv;
  /** Sees each stderr line with the CLI's pid (tests that act on the job as it runs). */
  onStderrLine?: (line: string, pid: number) => void;
}

export function shoal(args: string[], wallMs = 120_000, { env = process.env, onStderrLine }: ShoalOptions = {}): Promise<CliRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGTERM'), wallMs);
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    if (onStderrLine) createInterface({ input: child.stderr }).on('line', (line) => onStderrLine(line, child.pid!));
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export interface CliLines {
  code: number | null;
  signal: string | null;
  stdout: string[];
  stderr: string;
}

/** Runs the CLI as a subprocess; `onStdout` may signal it once some output arrived. */
export function runCli(t: ExecutionContext, args: string[], onStdout?: (line: string, all: string[], pid: number) => void, env: NodeJS.ProcessEnv = process.env): Promise<CliLines> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const stdout: string[] = [];
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  createInterface({ input: child.stdout }).on('line', (line) => {
    stdout.push(line);
    onStdout?.(line, stdout, child.pid as number);
  });
  return new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
}
