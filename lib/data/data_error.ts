// The error class of the data subsystem (readers and generators): malformed input carries the
// file, 1-based line and 1-based byte column it was found at; I/O failures carry the file.

import { ShoalError, type ErrorCode } from '../errors.js';

export interface DataErrorLocation {
  /** The file as the caller named it. */
  file?: string;
  /** 1-based line number. */
  line?: number;
  /** 1-based column, counted in bytes. */
  column?: number;
}

/**
 * Malformed data (`ERR_INVALID_ARGUMENT`, message `FILE:LINE:COLUMN: what`) or a file that
 * cannot be read (`ERR_IO`).
 */
export class DataError extends ShoalError implements DataErrorLocation {
  file?: string;
  line?: number;
  column?: number;

  constructor(code: ErrorCode, message: string, location: DataErrorLocation = {}, op = 'readLibsvm') {
    super(code, message, { op });
    if (location.file !== undefined) this.file = location.file;
    if (location.line !== undefined) this.line = location.line;
    if (location.column !== undefined) this.column = location.column;
  }
}
