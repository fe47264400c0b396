// The logistic function, once for the whole tree (trainers, predict, the data generators).
// Either branch's exp argument is <= 0, so it never overflows to Infinity/Infinity.

/** 1 / (1 + exp(-z)). */
export function sigmoid(z: number): number {
  if (z >= 0) return 1 / (1 + Math.exp(-z));
  const e = Math.exp(z);
  return e / (1 + e);
}
