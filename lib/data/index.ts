// The data subsystem's public surface: CSR types, the libsvm reader and the generators.
export { csrNnz, NO_QID, type CsrMatrix } from './csr.js';
export { DataError, type DataErrorLocation } from './data_error.js';
export { DATAGEN_DEFAULTS, generateDataset, plantedModel, type DatagenOptions, type DatagenResult, type DatagenTask, type PlantedModel } from './datagen.js';
export { hashFeatureId, readLibsvm, type ReadOptions, type ReadResult } from './libsvm.js';
