// The log-loss of one prediction, shared by the metrics and the PS trainers' progress lines.
// No native import: the PS trainers' single-process tests load it without the addon.

/** Log-loss of probability p for a 0/1 label (y > 0 positive), p clipped to [1e-15, 1 - 1e-15]. */
export function logLoss(p: number, y: number): number {
  const q = Math.min(Math.max(p, 1e-15), 1 - 1e-15);
  return y > 0 ? -Math.log(q) : -Math.log(1 - q);
}
