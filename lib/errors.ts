// The one table of error codes: every code the package (TypeScript or native) attaches to an
// error is listed in ERROR_TABLE with the class it is thrown as and what it means. The README's
// error table and a test are generated from / checked against this file.

/** Errors with stable codes, for failures that are not a bad argument. */
export class SpikelayersError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'SpikelayersError';
    this.code = code;
  }
}

/** Stable error codes (the values are what `err.code` holds). */
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
  /** The addon was built without CUDA. */
  CUDA_NOT_BUILT: 'ERR_CUDA_NOT_BUILT',
  /** No CUDA driver was found. */
  CUDA_NO_DRIVER: 'ERR_CUDA_NO_DRIVER',
  /** The CUDA driver is older than the runtime the addon was built with. */
  CUDA_OLD_DRIVER: 'ERR_CUDA_OLD_DRIVER',
  /** No CUDA device, or no device with that index. */
  CUDA_NO_DEVICE: 'ERR_CUDA_NO_DEVICE',
  /** The device's compute capability is below 7.5. */
  CUDA_DEVICE_TOO_OLD: 'ERR_CUDA_DEVICE_TOO_OLD',
  /** CUDA initialisation failed. */
  CUDA_INIT: 'ERR_CUDA_INIT',
  /** CUDA is disabled by SPIKELAYERS_DEVICE=cpu. */
  CUDA_DISABLED: 'ERR_CUDA_DISABLED',
  /** A device allocation failed during a call. */
  CUDA_OUT_OF_MEMORY: 'ERR_CUDA_OUT_OF_MEMORY',
  /** A CUDA runtime call failed during a call. */
  CUDA_RUNTIME: 'ERR_CUDA_RUNTIME',
  /** A data file cannot be read (missing, not HDF5). */
  DATA_FILE: 'ERR_DATA_FILE',
  /** A data file lacks a dataset or holds values of the wrong type, shape or range (the message names which). */
  DATA_FORMAT: 'ERR_DATA_FORMAT',
  /** A NIR file or graph lacks something a NIR graph must have, or holds it in the wrong form (the message names the node and parameter). */
  NIR_FORMAT: 'ERR_NIR_FORMAT',
  /** A NIR graph uses a node type, parameter value or structure that `fromNir` cannot map, or `toNir` meets a layer it cannot export. */
  NIR_UNSUPPORTED: 'ERR_NIR_UNSUPPORTED',
  /** `toNir` meets layer options that NIR cannot express, without `allowLossy` (the message names each layer and option). */
  NIR_LOSSY: 'ERR_NIR_LOSSY',
} as const;

/** One of the codes in {@link ErrorCodes}. */
export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/** The class an error with a code is thrown as. */
export type ErrorClassName = 'SpikelayersError' | 'RangeError' | 'TypeError';

/** Every code: the class it is thrown as, and when. */
export const ERROR_TABLE: Readonly<Record<ErrorCode, { readonly class: ErrorClassName; readonly meaning: string }>> = {
  ERR_LAYER_BUSY: {
    class: 'SpikelayersError',
    meaning: 'A synchronous call on a layer while an async call on it is in flight.',
  },
  ERR_NOTHING_PENDING: {
    class: 'RangeError',
    meaning: '`backward` with no pending forward (a `RangeError` that carries the code).',
  },
  ERR_TENSOR_DISPOSED: { class: 'SpikelayersError', meaning: 'A disposed tensor was used.' },
  ERR_SPIKELAYERS_LOAD: {
    class: 'SpikelayersError',
    meaning: 'The native addon could not be loaded. The message lists where it looked and how to fix it.',
  },
  ERR_CUDA_UNAVAILABLE: {
    class: 'SpikelayersError',
    meaning: "`device: 'cuda'` cannot be used and the probe gave no more specific code.",
  },
  ERR_CUDA_NOT_BUILT: {
    class: 'SpikelayersError',
    meaning: 'CUDA was asked for, but the addon was built without CUDA.',
  },
  ERR_CUDA_NO_DRIVER: { class: 'SpikelayersError', meaning: 'CUDA was asked for, but no CUDA driver was found.' },
  ERR_CUDA_OLD_DRIVER: {
    class: 'SpikelayersError',
    meaning: 'The CUDA driver is older than the runtime the addon was built with.',
  },
  ERR_CUDA_NO_DEVICE: {
    class: 'SpikelayersError',
    meaning: 'There is no CUDA device, or none with the index asked for.',
  },
  ERR_CUDA_DEVICE_TOO_OLD: { class: 'SpikelayersError', meaning: 'The CUDA device has compute capability below 7.5.' },
  ERR_CUDA_INIT: { class: 'SpikelayersError', meaning: 'CUDA initialisation failed.' },
  ERR_CUDA_DISABLED: { class: 'SpikelayersError', meaning: 'CUDA is disabled by `SPIKELAYERS_DEVICE=cpu`.' },
  ERR_CUDA_OUT_OF_MEMORY: { class: 'SpikelayersError', meaning: 'A device allocation failed during a call.' },
  ERR_CUDA_RUNTIME: {
    class: 'SpikelayersError',
    meaning: 'A CUDA runtime call failed during a call (the message has the CUDA error).',
  },
  ERR_DATA_FILE: {
    class: 'SpikelayersError',
    meaning: 'A data file (`loadShd`, `readNir`) is missing or is not an HDF5 file.',
  },
  ERR_DATA_FORMAT: {
    class: 'SpikelayersError',
    meaning:
      'A data file lacks a dataset (the message names its path) or holds values of the wrong type, length or range (it names the sample).',
  },
  ERR_NIR_FORMAT: {
    class: 'SpikelayersError',
    meaning:
      'A NIR file or graph (`readNir`, `fromNir`) lacks the graph, a node type, the edges or a required parameter, or holds one in the wrong form; the message names the node and parameter.',
  },
  ERR_NIR_UNSUPPORTED: {
    class: 'SpikelayersError',
    meaning:
      '`fromNir` cannot map a node type (the message names the node and the supported types), a parameter value (e.g. a nonzero `v_leak`) or a graph that is not a chain from `Input` to `Output`; `toNir` cannot export a layer (e.g. `AvgPool2d`, nested `Sequential`s).',
  },
  ERR_NIR_LOSSY: {
    class: 'SpikelayersError',
    meaning:
      '`toNir` without `allowLossy` on a model with layer options NIR cannot express (`tauSyn`, `normInput: true`, the reset kind, ...); the message names each layer index, name and option.',
  },
};

/** An error carrying `code`, of the class the table gives for it. */
export function codedError(code: ErrorCode, message: string): Error & { code: string } {
  const cls = ERROR_TABLE[code].class;
  if (cls === 'SpikelayersError') return new SpikelayersError(code, message);
  const e = (cls === 'RangeError' ? new RangeError(message) : new TypeError(message)) as Error & { code: string };
  e.code = code;
  return e;
}

/** Whether `code` is one of the package's codes. */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.prototype.hasOwnProperty.call(ERROR_TABLE, code);
}

/**
 * An error from the native addon as the package throws it: one with a known code becomes the
 * table's class (native CUDA failures arrive as plain Errors with a code); anything else as is.
 */
export function fromNative(e: unknown): unknown {
  if (
    e instanceof Error &&
    !(e instanceof SpikelayersError) &&
    !(e instanceof TypeError) &&
    !(e instanceof RangeError)
  ) {
    const code = (e as { code?: unknown }).code;
    if (isErrorCode(code)) return codedError(code, e.message);
  }
  return e;
}
