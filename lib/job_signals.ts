// Signals sent to a `shoal` command that runs a job (`shoal run`, every `shoal train X`): a
// user's Ctrl-C (SIGINT), a scheduler's or `timeout`'s SIGTERM, a closed terminal's SIGHUP.
// Ranks, parameter servers and the coordinator live in process groups of their own, so such a
// signal reaches only the command: it forwards it to the job, which stops every process it
// started (SIGKILL after the grace period, a second signal at once) and reports the signal;
// the command then exits 128 + the signal's number (exitCodeFor).
import { startJob, type JobResult, type RunOptions } from './launcher.js';
import { scopedReportDir } from './monitor/report_flag.js';

export const FORWARDED_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/**
 * Runs a job like runJob, forwarding FORWARDED_SIGNALS to it while it runs.
 * @throws {ConfigError} as runJob does.
 */
export async function runJobForwardingSignals(opts: RunOptions): Promise<JobResult> {
  const report = opts.report ?? scopedReportDir();
  const job = startJob(report === undefined ? opts : { ...opts, report });
  const handlers = FORWARDED_SIGNALS.map((signal) => [signal, () => job.interrupt(signal)] as const);
  for (const [signal, handler] of handlers) process.on(signal, handler);
  try {
    return await job.result;
  } finally {
    for (const [signal, handler] of handlers) process.off(signal, handler);
  }
}
