// The package root (`import ... from 'shoal'`): the SDK runtime (lib/) and, from algorithms/,
// loadModel for every bundled trainer's model format. lib/ itself never imports algorithms/.
export * from './lib/index.js';
export { loadModel, type Model, type TreeModel, type LoadedModel } from './algorithms/model.js';
export type { KeyedModel } from './algorithms/keyed_model.js';
