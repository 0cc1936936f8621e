// The contract of the native addon (spikelayers.node). Internal: the public API lives in lib/.
// Layouts: x, out, recordings and gradients (B, T, N); states (B, N); checkpoints (B, ceil(T/K), N).

// Kernel kinds are numbers defined once, in native/core/lif_math.h; the addon exports them as
// `constants` and lib/kinds.ts reads them from there. The brands keep a kind of one family from
// being passed as another, or a bare number as a kind.

/** A spike-function kind (`constants.spike`). */
export type SpikeKind = number & { readonly __kind: 'spike' };
/** A reset kind (`constants.reset`). */
export type ResetKind = number & { readonly __kind: 'reset' };
/** A surrogate-gradient kind (`constants.surrogate`). */
export type SurrogateKind = number & { readonly __kind: 'surrogate' };

/** What the addon exports as `constants`. */
export interface NativeConstants {
  readonly spike: {
    readonly multi: SpikeKind;
    readonly single: SpikeKind;
    readonly given: SpikeKind;
    readonly none: SpikeKind;
  };
  readonly reset: { readonly subtract: ResetKind; readonly reset: ResetKind; readonly none: ResetKind };
  readonly surrogate: {
    readonly singleExponential: SurrogateKind;
    readonly heaviside: SurrogateKind;
    readonly gaussian: SurrogateKind;
    readonly multiGaussian: SurrogateKind;
    readonly periodicExponential: SurrogateKind;
    readonly given: SurrogateKind;
  };
  /** The checkpoint interval K of the backward recompute (steps). */
  readonly checkpointInterval: number;
  /** The largest K the CUDA kernels (and their emulated launch) accept. */
  readonly maxDeviceCheckpointInterval: number;
  /** The order of the scalar fields in `NativeCommonArgs.scalars`. */
  readonly scalarFields: readonly string[];
}

/**
 * A float32 buffer in CUDA device memory (see native/napi/napi_common.h), held through an owning
 * reference: dispose() drops this object's reference; the memory goes back to the caching
 * allocator when the last owner (a share, an in-flight call) lets go.
 */
export interface NativeDeviceBuffer {
  readonly length: number;
  readonly device: number;
  readonly disposed: boolean;
  /** Owners of the memory now (this object, its shares, in-flight calls); 0 once disposed. */
  readonly owners: number;
  upload(src: Float32Array): void;
  download(dst: Float32Array): void;
  copyFrom(src: NativeDeviceBuffer): void;
  zero(): void;
  /** Another object owning the same memory (disposing either leaves the other intact). */
  share(): NativeDeviceBuffer;
  /** Whether `other` owns the same memory (false once either is disposed). */
  sameMemory(other: NativeDeviceBuffer): boolean;
  dispose(): void;
}

/** Counters of the caching allocator for one device (core/caching_allocator.h). */
export interface NativeDeviceMemoryStats {
  bytesInUse: number;
  bytesCached: number;
  blocksInUse: number;
  blocksCached: number;
  rawBlocks: number;
  rawBytes: number;
  rawAllocs: number;
  rawFrees: number;
  cacheHits: number;
  fenceWaits: number;
  /** DeviceBuffer objects holding a reference, in the whole process. */
  handles: number;
}

/**
 * Pooled host memory: a pooled array is a Float32Array over an external ArrayBuffer that owns a
 * reference to a cached block; `release` detaches it and gives the reference up at once.
 */
export interface NativeHostMemory {
  /** n floats (zeros when `zero`, else unspecified); pooled from 64 KiB on, a plain array below. */
  alloc(n: number, zero: boolean): Float32Array;
  /** Gives up a pooled array's reference now (the array is detached); false for other arrays. */
  release(a: Float32Array): boolean;
  /** Another array owning the same pooled memory; `a` itself for other arrays. */
  share(a: Float32Array): Float32Array;
  /** Whether two pooled arrays own the same memory. */
  sameMemory(a: Float32Array, b: Float32Array): boolean;
  /** The bytes of a pooled array's block when the array is its only owner, else 0. */
  soleOwner(a: Float32Array): number;
  stats(): NativeDeviceMemoryStats;
  setCacheLimit(bytes: number): void;
  cacheLimit(): number;
  emptyCache(): void;
  /** Arrays of fewer bytes are V8's own. */
  readonly poolMinBytes: number;
}

/** The device-memory allocator (native/napi/memory_napi.cc); `test` selects the test memory. */
export interface NativeDeviceMemory {
  stats(device: number, test?: boolean): NativeDeviceMemoryStats;
  /** Frees the cached blocks of `device` (-1: all devices) and waits until that is done. */
  emptyCache(device: number, test?: boolean): void;
  setCacheLimit(bytes: number): void;
  cacheLimit(): number;
  /** Test hook: new DeviceBuffers come from host pages standing in for a device. */
  _useTestMemory(on: boolean): void;
  _usingTestMemory(): boolean;
  /** Test hook: the test memory reports out of memory beyond this many bytes. */
  _setTestMemoryLimit(bytes: number): void;
  /** Test hook: async kernel calls wait at a closed gate before they run. */
  _gate(command: 'close' | 'open' | 'status'): { waiting: number; passed: number };
  /** Test hook: the external memory V8 accounts to this environment now, in bytes. */
  _externalMemory(): number;
}

/** Host memory, or device memory on one CUDA device: all arrays of a call live in one place. */
export type NativeArray = Float32Array | NativeDeviceBuffer;

export interface NativeCommonArgs {
  B: number;
  T: number;
  N: number;
  spike: SpikeKind;
  reset: ResetKind;
  surr: SurrogateKind;
  hasSyn: boolean;
  theta: number;
  maxSpikes?: number;
  thetaSub?: number;
  resetValue?: number;
  minV?: number;
  hasMin: boolean;
  normInput: boolean;
  K: number;
  surrParams?: Float32Array;
  /** Length 1 (scalar) or N. */
  alphaMem: NativeArray;
  alphaSyn?: NativeArray;
  x: NativeArray;
  spikesGiven?: NativeArray;
  ckV?: NativeArray;
  ckI?: NativeArray;
  /** Run host arrays through the CPU emulation of the CUDA launch (tests). */
  emulate?: boolean;
  /**
   * The scalar fields (B ... emulate, xType, outType, in `constants.scalarFields` order; booleans
   * as 0/1, every field present) in one array: the native side then reads them from here instead
   * of the named fields, one property read instead of eighteen.
   */
  scalars?: Float64Array;
}

export interface NativeForwardArgs extends NativeCommonArgs {
  v0: NativeArray;
  i0?: NativeArray;
  out: NativeArray;
  v1: NativeArray;
  i1?: NativeArray;
  recV?: NativeArray;
  recI?: NativeArray;
  uOut?: NativeArray;
  /** Element type of x (native/core/lif_io.h): 0 float32 (default), 1 float16, 2 bfloat16, where x
   * is then a Uint16Array of bit patterns. CPU forward only. */
  xType?: number;
  /** Element type of out: 0 float32 (default) or 3 uint8, where out is then a Uint8Array and
   * ioStatus is required. CPU forward only. */
  outType?: number;
  /** With outType 3: the kernel writes [first element uint8 could not hold, or -1; its value]. */
  ioStatus?: Float64Array;
}

export interface NativeBackwardArgs extends NativeCommonArgs {
  ckV: NativeArray;
  gradOut: NativeArray;
  sigmaGiven?: NativeArray;
  gvEnd?: NativeArray;
  giEnd?: NativeArray;
  gradIn: NativeArray;
  gvStart: NativeArray;
  giStart?: NativeArray;
  gAlphaMem: Float64Array;
  gAlphaSyn?: Float64Array;
}

export interface NativeCudaDevice {
  index: number;
  name: string;
  computeCapability: string;
  memoryGiB: number;
  usable: boolean;
}

export interface NativeCudaStatus {
  built: boolean;
  available: boolean;
  code: string;
  reason: string;
  runtimeVersion: number;
  driverVersion: number;
  devices: NativeCudaDevice[];
}

export interface NativeBackendInfo {
  version: string;
  napiVersion: number;
  threads: number;
  maxThreads: number;
  openmp: number;
  simd: string;
  /** The CPU kernel build chosen at run time: "x86-64-v3", "x86-64-v2" or "generic". */
  cpuKernels: string;
  cuda: NativeCudaStatus;
}

/**
 * Synaptic-layer operations (native/napi/synapse_napi.cc; contract in native/core/synapse_args.h):
 * GEMM, im2col/col2im, transposes, row sums and the event-driven (sparse) paths of Linear/Conv2d.
 */
export interface NativeSynapseOps {
  /** C (M x N) = [accumulate ? C : 0] + op(A) . op(B) [+ bias over rows]; A is M x K (K x M with
   * transA), B is K x N (N x K with transB), row-major. */
  gemm(args: NativeGemmArgs): void;
  /** cols[(n*Ho + i)*Wo + j][(c*kH + a)*kW + b] = zero-padded x[n][c][i*sH + a - pH][j*sW + b - pW]. */
  im2col(args: NativeIm2colArgs): void;
  /** x (overwritten) = for each input element, the sum of the cols entries that im2col copies from it. */
  col2im(args: NativeIm2colArgs): void;
  /** dst (batch, cols, rows) = src (batch, rows, cols) transposed per batch. */
  transpose(args: NativeTransposeArgs): void;
  /** dst[j] = [accumulate ? dst[j] : 0] + sum over i of src[i][j] (summed in double, i in order). */
  sumRows(args: NativeSumRowsArgs): void;
  /** The number of nonzero elements of x[0..n) (host arrays only). */
  countNonzero(args: { n: number; x: Float32Array }): number;
  /** Event-driven Linear forward (host only): y = x . wT [+ bias], wT = weight transposed (K x N). */
  linearSparseForward(args: NativeLinearSparseForwardArgs): void;
  /** Event-driven Linear weight gradient (host only): gradWeight (N x K) = [accumulate ? gradWeight : 0] + gradOutᵀ . x. */
  linearSparseWeightGrad(args: NativeLinearSparseWeightGradArgs): void;
  /**
   * CSR index of a dense (M, K) host matrix x (nonzero = `x != 0`, NaN included; columns
   * ascending within a row), or null when x has more than `maxNnz` nonzeros (or over 2^31 - 1).
   */
  csrBuild(args: NativeCsrBuildArgs): NativeCsr | null;
  /** Event-driven Linear forward on a CSR input (host only): y = x . wT [+ bias], events in order. */
  linearCsrForward(args: NativeLinearCsrForwardArgs): void;
  /** Event-driven Linear weight gradient on a CSR input (host only): gradWeight = [accumulate ? gradWeight : 0] + gradOutᵀ . x. */
  linearCsrWeightGrad(args: NativeLinearCsrWeightGradArgs): void;
}

/** A CSR matrix: row offsets (M + 1), then column indices and values (rowPtr[M] each). */
export interface NativeCsr {
  rowPtr: Int32Array;
  cols: Int32Array;
  vals: Float32Array;
}

export interface NativeCsrBuildArgs {
  M: number;
  K: number;
  x: Float32Array;
  maxNnz: number;
}

export interface NativeLinearCsrForwardArgs extends NativeCsr {
  M: number;
  N: number;
  K: number;
  wT: Float32Array;
  bias?: Float32Array;
  y: Float32Array;
}

export interface NativeLinearCsrWeightGradArgs extends NativeCsr {
  M: number;
  N: number;
  K: number;
  accumulate?: boolean;
  gradOut: Float32Array;
  gradWeight: Float32Array;
}

/** Common to the synaptic operations: host arrays run the CUDA launch's CPU emulation when set (tests). */
export interface NativeSynapseCommon {
  emulate?: boolean;
}

export interface NativeGemmArgs extends NativeSynapseCommon {
  M: number;
  N: number;
  K: number;
  transA?: boolean;
  transB?: boolean;
  accumulate?: boolean;
  A: NativeArray;
  B: NativeArray;
  C: NativeArray;
  bias?: NativeArray;
}

/** Convolution geometry (cross-correlation, zero padding, dilation 1, groups 1) and the two arrays. */
export interface NativeIm2colArgs extends NativeSynapseCommon {
  N: number;
  C: number;
  H: number;
  W: number;
  kH: number;
  kW: number;
  sH: number;
  sW: number;
  pH: number;
  pW: number;
  /** (N, C, H, W): read by im2col, written by col2im. */
  x: NativeArray;
  /** (N*Ho*Wo, C*kH*kW): written by im2col, read by col2im. */
  cols: NativeArray;
}

export interface NativeTransposeArgs extends NativeSynapseCommon {
  batch: number;
  rows: number;
  cols: number;
  src: NativeArray;
  dst: NativeArray;
}

export interface NativeSumRowsArgs extends NativeSynapseCommon {
  M: number;
  N: number;
  accumulate?: boolean;
  src: NativeArray;
  dst: NativeArray;
}

export interface NativeLinearSparseForwardArgs {
  M: number;
  N: number;
  K: number;
  x: Float32Array;
  wT: Float32Array;
  bias?: Float32Array;
  y: Float32Array;
}

export interface NativeLinearSparseWeightGradArgs {
  M: number;
  N: number;
  K: number;
  accumulate?: boolean;
  x: Float32Array;
  gradOut: Float32Array;
  gradWeight: Float32Array;
}

/**
 * Pooling, elementwise, reduction, loss and optimizer-update operations (native/napi/ops_napi.cc).
 */
export interface NativeTensorOps {
  /** y (N, C, Ho, Wo) = window sums (`sum`) or means of x (N, C, H, W); no padding, floor mode. */
  poolForward(args: NativePoolArgs & { x: NativeArray; y: NativeArray }): void;
  /** gradIn (N, C, H, W) from gradOut (N, C, Ho, Wo); `sum` needs the forward output `out`
   * (windows whose output is exactly 0 pass no gradient). */
  poolBackward(args: NativePoolArgs & { gradOut: NativeArray; out?: NativeArray; gradIn: NativeArray }): void;
  /** y (B, F) = sum (mode 0), max (1; `arg` receives the step of the maximum) or last step (2) of x (B, T, F). */
  timeForward(args: NativeTimeArgs & { x: NativeArray; y: NativeArray; arg?: NativeArray }): void;
  /** gradIn (B, T, F) of a time readout from gradOut (B, F) (`arg` for mode 1). */
  timeBackward(args: NativeTimeArgs & { gradOut: NativeArray; arg?: NativeArray; gradIn: NativeArray }): void;
  /** Mean of (output - target)^2 over n elements; grad = 2 (output - target) / n. */
  mseLoss(args: { n: number; output: NativeArray; target: NativeArray; grad: NativeArray; emulate?: boolean }): number;
  /** Mean over B rows of logsumexp(z) - z[label]; grad = (softmax - onehot) / B. Labels as floats. */
  crossEntropyLoss(args: {
    B: number;
    C: number;
    logits: NativeArray;
    labels: NativeArray;
    grad: NativeArray;
    emulate?: boolean;
  }): number;
  /** Sum of x^2 over n elements, in double, in a fixed order. */
  sumSquares(args: { n: number; x: NativeArray; emulate?: boolean }): number;
  /** x *= s over n elements. */
  scaleInPlace(args: { n: number; x: NativeArray; s: number; emulate?: boolean }): void;
  /** One torch.optim.SGD update of n parameters (buf: momentum buffer, needed when momentum != 0). */
  sgdStep(
    args: NativeOptArgs & { momentum: number; dampening: number; nesterov: boolean; first: boolean; buf?: NativeArray },
  ): void;
  /** One torch.optim.Adam (decoupled false) or AdamW (true) update; step >= 1 is the new step count. */
  adamStep(
    args: NativeOptArgs & {
      m: NativeArray;
      v: NativeArray;
      beta1: number;
      beta2: number;
      eps: number;
      step: number;
      decoupled: boolean;
    },
  ): void;
}

export interface NativePoolArgs {
  N: number;
  C: number;
  H: number;
  W: number;
  kH: number;
  kW: number;
  sH: number;
  sW: number;
  sum: boolean;
  emulate?: boolean;
}

export interface NativeTimeArgs {
  B: number;
  T: number;
  F: number;
  /** 0 sum, 1 max, 2 last step. */
  mode: number;
  emulate?: boolean;
}

export interface NativeOptArgs {
  n: number;
  p: NativeArray;
  g: NativeArray;
  lr: number;
  weightDecay: number;
  hasMin: boolean;
  min?: number;
  emulate?: boolean;
}

export interface NativeBinding extends NativeSynapseOps, NativeTensorOps {
  /** Returns the sum of all outputs (for the firing rate). */
  lifForward(args: NativeForwardArgs): number;
  lifForwardAsync(args: NativeForwardArgs): Promise<number>;
  lifBackward(args: NativeBackwardArgs): void;
  lifBackwardAsync(args: NativeBackwardArgs): Promise<void>;
  setNumThreads(n: number): void;
  getNumThreads(): number;
  backendInfo(): NativeBackendInfo;
  /** STREAM-like triad bandwidth in GB/s, best of `reps`. */
  memoryBandwidth(bytesPerArray: number, reps: number): number;
  /** The kernels' kind numbers and checkpoint interval. */
  readonly constants: NativeConstants;
  /** Device-to-device copy bandwidth in GB/s (read + write), CUDA events. */
  cudaCopyBandwidth(bytes: number, reps: number, device: number): number;
  /** Allocates `length` floats on CUDA device `device` (uninitialised). */
  DeviceBuffer: new (length: number, device: number) => NativeDeviceBuffer;
  /** The caching allocator of device memory. */
  readonly deviceMemory: NativeDeviceMemory;
  /** Float32Arrays over pooled host memory, owned by reference (native/napi/memory_napi.cc). */
  readonly hostMemory: NativeHostMemory;
}
