// KunPeng's overlapped pipeline for the PS trainers (`--prefetch`): the pull of the next
// window (its keys extracted and deduplicated by the caller) is issued before the current
// window is computed and pushed, so the network round trip and the servers' work run beside
// this worker's arithmetic (double buffering: one window in use, one in flight).
//
// Consistency: a prefetched pull is issued `lead` clocks before the pull it replaces would
// run. Under SSP with bound s the trainer creates its tables with bound s - lead, so the
// prefetched answer sees what a pull at its use clock would see with bound s (the slowest
// worker at least use clock - s). BSP (s = 0), or s < lead, cannot allow an early pull: there
// --prefetch is a usage error and the order stays pull -> compute -> push. ASP has no bound.
//
// The answer is awaited before this worker's next push is sent, so it never contains that
// push: the trainer adds the deltas it pushed after the answer (FTRL) or accepts that its
// own last minibatch is missing (FM, like one more asynchronous worker). docs/parameter_server.md.
import { usageError } from '../../lib/cli_flags.js';

/** The table bound that keeps a pull issued `lead` clocks early within `staleness` (Infinity: ASP). */
export function prefetchStaleness(command: string, staleness: number, lead: number): number {
  if (staleness === Infinity) return Infinity;
  if (staleness < lead) {
    throw usageError(command, `--prefetch pulls ${lead} clock(s) ahead, which --staleness ${staleness} does not allow (needs 'asp' or >= ${lead}; BSP keeps pull -> compute -> push)`);
  }
  return staleness - lead;
}

/** One pull in flight for a window named by `at` (its first row). */
export class Prefetcher<T> {
  #at = -1;
  #pending: Promise<T> | null = null;
  #ready: T | null = null;
  /** Windows whose pull was issued ahead and then used. */
  used = 0;

  /** Starts the pull of the window at `at` (the previous one, if unused, is dropped once it settles). */
  issue(at: number, pull: () => Promise<T>): void {
    this.#at = at;
    this.#ready = null;
    this.#pending = pull();
  }

  /** Waits for the answer in flight (before a push: the answer must not contain it). */
  async settle(): Promise<void> {
    if (this.#pending === null) return;
    const p = this.#pending;
    this.#pending = null;
    this.#ready = await p;
  }

  /** The answer for the window at `at`, or null when none was issued for it. */
  async take(at: number): Promise<T | null> {
    await this.settle();
    const value = this.#at === at ? this.#ready : null;
    this.#at = -1;
    this.#ready = null;
    if (value !== null) this.used++;
    return value;
  }

  /** True when a pull was issued and not yet taken (its answer may still be arriving). */
  get busy(): boolean {
    return this.#at >= 0;
  }
}
