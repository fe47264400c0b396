// The addon's gradient-boosting kernels, typed in lib/native.ts (GbdtKernels). Only this file in
// algorithms/mart touches the native layer.
import { native, type GbdtKernels } from '../../lib/native.js';

export const gbdtNative: GbdtKernels = native.gbdt;
