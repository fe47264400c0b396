// Cost of one native kernel call's argument checks (TypedArray type, detachment, pointer) on
// tiny arrays, where the call overhead is all there is: gbdt.absMax (3 arrays), gbdt.quantizePairs
// (3 arrays + 2 numbers), linear.twoLoop with empty history. Compares two builds of the addon:
//   SHOAL_NATIVE_PATH=/path/to/shoal_native.node node dist/bench/binding_args.js
// prints ns per call (median of 7 runs of 200000 calls) for the addon lib/native.ts loads.
import { native } from '../lib/native.js';

const N = 200_000;
const grad = new Float64Array(1);
const hess = new Float64Array(1);
const out2 = new Float64Array(2);
const gh = new Float64Array(2);
const rho = new Float64Array(0);
const g = new Float64Array(1);
const out = new Float64Array(1);

const cases: Array<[string, () => void]> = [
  ['gbdt.absMax', () => native.gbdt.absMax(grad, hess, out2)],
  ['gbdt.quantizePairs', () => native.gbdt.quantizePairs(grad, hess, 1, 1, gh)],
  ['linear.twoLoop (m = 0)', () => native.linear.twoLoop([], [], rho, g, out)],
];

for (const [name, call] of cases) {
  const times: number[] = [];
  for (let rep = 0; rep < 7; rep++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < N; i++) call();
    times.push(Number(process.hrtime.bigint() - t0) / N);
  }
  times.sort((a, b) => a - b);
  console.log(`${name.padEnd(24)} ${times[3]!.toFixed(1)} ns/call (min ${times[0]!.toFixed(1)})`);
}
