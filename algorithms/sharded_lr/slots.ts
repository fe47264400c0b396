// The slots of the sharded solver's vector tables (one float64 each per key). Slot 0 and 1
// are fixed by the vector table: workers pull X and push into G.
export const X = 0; //   the point being evaluated (workers pull it)
export const G = 1; //   the data gradient at X (workers' pushes, summed)
export const W = 2; //   the current iterate
export const GW = 3; //  the objective's gradient at W (L2 included)
export const D = 4; //   the search direction
export const PG = 5; //  OWL-QN: the pseudo-gradient at W
export const SS = 6; //  a new pair (s, y) before it joins the history
export const SY = 7;
export const GT0 = 8; // gradients at the last two trial points of a line search
export const GT1 = 9;
const PAIRS = 10; //     then s_0, y_0, s_1, y_1, ... (the history's pairs)

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
