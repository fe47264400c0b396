// Whether this process belongs to a job that replaces lost workers (`shoal run --max-restarts K`
// sets SHOAL_MAX_RESTARTS for every process) and whether it is itself a replacement.
import { RESTART_ENV } from '../fault_injection.js';

export const MAX_RESTARTS_ENV = 'SHOAL_MAX_RESTARTS';

/** True when the launcher will start a replacement for a lost worker. */
export function recoveryEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return Number(env[MAX_RESTARTS_ENV] ?? 0) > 0;
}

/** How many restarts the job had before this process started (0: an original process). */
export function restartCount(env: NodeJS.ProcessEnv = process.env): number {
  const n = Number(env[RESTART_ENV] ?? 0);
  return Number.isInteger(n) && n > 0 ? n : 0;
}
