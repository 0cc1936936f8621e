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
} as const;
