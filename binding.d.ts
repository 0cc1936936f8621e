// The contract of the native addon (spikelayers.node). Internal: the public API lives in lib/.
// Layouts: x, out, recordings and gradients (B, T, N); states (B, N); checkpoints (B, ceil(T/K), N).

// Kernel kinds are passed as numbers; lib/activations.ts names them (native/core/lif_math.h).

export interface NativeCommonArgs {
  B: number;
  T: number;
  N: number;
  spike: number;
  reset: number;
  surr: number;
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
  alphaMem: Float32Array;
  alphaSyn?: Float32Array;
  x: Float32Array;
  spikesGiven?: Float32Array;
  ckV?: Float32Array;
  ckI?: Float32Array;
  /** Run host arrays through the CPU emulation of the CUDA launch (tests). */
  emulate?: boolean;
}

export interface NativeForwardArgs extends NativeCommonArgs {
  v0: Float32Array;
  i0?: Float32Array;
  out: Float32Array;
  v1: Float32Array;
  i1?: Float32Array;
  recV?: Float32Array;
  recI?: Float32Array;
  uOut?: Float32Array;
}

export interface NativeBackwardArgs extends NativeCommonArgs {
  ckV: Float32Array;
  gradOut: Float32Array;
  sigmaGiven?: Float32Array;
  gvEnd?: Float32Array;
  giEnd?: Float32Array;
  gradIn: Float32Array;
  gvStart: Float32Array;
  giStart?: Float32Array;
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

export interface NativeBinding {
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
  /** Sum in double, fixed order. */
  sumF32(data: Float32Array): number;
}
