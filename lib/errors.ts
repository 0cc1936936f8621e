/** Errors with stable codes, for failures that are not a bad argument. */
export class SpikelayersError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'SpikelayersError';
    this.code = code;
  }
}

/** Stable error codes. */
export const ErrorCodes = {
  /** A layer is running an async call; sync calls on it must wait. */
  LAYER_BUSY: 'ERR_LAYER_BUSY',
  /** `backward` was called with no forward pending. */
  NOTHING_PENDING: 'ERR_NOTHING_PENDING',
  /** The tensor was disposed. */
  DISPOSED: 'ERR_TENSOR_DISPOSED',
  /** CUDA was asked for but cannot be used (the message says why). */
  CUDA_UNAVAILABLE: 'ERR_CUDA_UNAVAILABLE',
  /** The native addon could not be loaded. */
  LOAD_FAILED: 'ERR_SPIKELAYERS_LOAD',
  /** A data file cannot be read (missing, not HDF5). */
  DATA_FILE: 'ERR_DATA_FILE',
  /** A data file lacks a dataset or holds values of the wrong type, shape or range (the message names which). */
  DATA_FORMAT: 'ERR_DATA_FORMAT',
} as const;
