// Composite collectives built on the Communicator's buffer collectives (the `shoal/collectives` entry point).
export { sparseAllReduce, type SparseRows } from './sparse_all_reduce.js';
export { allGatherObject, bcastObject } from './objects.js';
