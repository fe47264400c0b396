// The slots of the sharded solver's vector tables (one float64 each per key). Slot 0 and 1
// are fixed by the vector table: workers pull X and push into G. No program reads a slot
// it writes before the write (in-place updates start from a fresh write), so running a
// program twice leaves the same slots as running it once.
export const X = 0; //   the point being evaluated (workers pull it)
export const G = 1; //   the data gradient at X (workers' pushes, summed)
export const W = 2; //   the current iterate (one of two sets, see ITERATES)
export const GW = 3; //  the objective's gradient at W (L2 included)
export const D = 4; //   the search direction
export const PG = 5; //  OWL-QN: the pseudo-gradient at W
export const SS = 6; //  a new pair (s, y) before it joins the history
export const SY = 7;
export const GT0 = 8; // gradients at the last two trial points of a line search
export const GT1 = 9;
const W_B = 10; //       the other set of (W, GW, PG)
const GW_B = 11;
const PG_B = 12;
const PAIRS = 13; //     then s_0, y_0, s_1, y_1, ... (the history's pairs)

/** Where one iterate (w, its gradient, OWL-QN's pseudo-gradient) lives. */
export interface IterateSlots {
  w: number;
  gw: number;
  pg: number;
}

/**
 * Two sets: accepting a step writes the new iterate into the other set and reads the current
 * one, so every program can be run again with the same result (a retried program, a driver
 * rolled back to its last commit) and the committed iterate survives until the next commit.
 */
export const ITERATES: readonly [IterateSlots, IterateSlots] = [
  { w: W, gw: GW, pg: PG },
  { w: W_B, gw: GW_B, pg: PG_B },
];

/** Slots a table needs for history size m. */
export function slotsFor(m: number): number {
  return PAIRS + 2 * m;
}

/** The slots of history pair i (0..m-1). */
export function pairSlots(i: number): { s: number; y: number } {
  return { s: PAIRS + 2 * i, y: PAIRS + 2 * i + 1 };
}

/** Largest m a vector table's 255 slots allow. */
export const MAX_SHARDED_M = 100;
