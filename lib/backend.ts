import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import type { NativeBinding } from '#binding';
import { ErrorCodes, SpikelayersError } from './errors.js';

const require = createRequire(import.meta.url);
const packageRoot = fileURLToPath(new URL('../../', import.meta.url));

let cached: NativeBinding | undefined;
let loadedFrom = '';

/** The native addon, loaded on first use with node-gyp-build (build/ first, then prebuilds/). */
export function native(): NativeBinding {
  if (cached) return cached;
  const nodeGypBuild = require('node-gyp-build') as ((dir: string) => NativeBinding) & {
    resolve?: (dir: string) => string;
  };
  const override = process.env.SPIKELAYERS_BINARY;
  try {
    if (override) {
      // an explicit binary (tests, bundlers, side-by-side builds)
      loadedFrom = path.resolve(override);
      cached = require(loadedFrom) as NativeBinding;
    } else {
      loadedFrom = nodeGypBuild.resolve ? nodeGypBuild.resolve(packageRoot) : packageRoot;
      cached = nodeGypBuild(packageRoot);
    }
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e);
    throw new SpikelayersError(
      ErrorCodes.LOAD_FAILED,
      `spikelayers: could not load the native addon for ${process.platform}-${process.arch} ` +
        `(Node ${process.versions.node}).\n` +
        (override
          ? `  Tried SPIKELAYERS_BINARY=${override}.\n`
          : `  Looked in ${packageRoot}build/Release and ${packageRoot}prebuilds/${process.platform}-${process.arch}.\n`) +
        `  Reason: ${reason}\n` +
        `  Possible solutions:\n` +
        `  - build from source: npm run build:native (needs CMake >= 3.19, a C++17 compiler and OpenMP)\n` +
        `  - on slim Linux images install the OpenMP runtime: apt-get install libgomp1`,
    );
  }
  return cached;
}

/** One CUDA device the probe found. */
export interface CudaDevice {
  /** CUDA device index (`'cuda:N'`). */
  index: number;
  /** Device name, e.g. "NVIDIA H100 80GB HBM3". */
  name: string;
  /** Compute capability, e.g. "9.0". */
  computeCapability: string;
  /** Global memory in GiB. */
  memoryGiB: number;
  /** Whether the kernels in this binary can run on it. */
  usable: boolean;
}

/** Whether (or why not) CUDA is usable. */
export interface CudaStatus {
  /** Whether the native binary was compiled with CUDA. */
  built: boolean;
  /** Whether at least one usable device exists (and CUDA is not disabled). */
  available: boolean;
  /** Stable code when unavailable (e.g. ERR_CUDA_NO_DRIVER), else ''. */
  code: string;
  /** Human-readable reason when unavailable, else ''. */
  reason: string;
  /** CUDA runtime version, e.g. 13000 (0 without CUDA). */
  runtimeVersion: number;
  /** CUDA driver version, 0 when no driver is installed. */
  driverVersion: number;
  /** The devices found (usable or not). */
  devices: CudaDevice[];
  /** True when SPIKELAYERS_DEVICE=cpu disables CUDA. */
  disabledByEnv: boolean;
}

/** What {@link backendInfo} returns. */
export interface BackendInfo {
  /** Version of the native addon. */
  version: string;
  /** The N-API version the addon was built for. */
  napiVersion: number;
  /** Threads the CPU kernels use now (see {@link setNumThreads}). */
  threads: number;
  /** Processors OpenMP can use (the default thread count). */
  maxThreads: number;
  /** The OpenMP version the addon was built with (`_OPENMP`, e.g. 201511), 0 without OpenMP. */
  openmp: number;
  /** The widest SIMD instruction set of the CPU kernels in use, e.g. "avx2" or "sse4.2". */
  simd: string;
  /** The CPU kernel build chosen at run time: "x86-64-v4", "x86-64-v3", "x86-64-v2" or "generic". */
  cpuKernels: string;
  /** Path of the loaded native binary. */
  binary: string;
  /** Whether (or why not) CUDA is usable. */
  cuda: CudaStatus;
  /** Devices usable by this process, e.g. ['cpu', 'cuda:0']. */
  devices: string[];
}

/** What the native backend is, how many threads it uses and whether (or why not) CUDA is usable. */
export function backendInfo(): BackendInfo {
  const b = native();
  const info = b.backendInfo();
  const disabledByEnv = (process.env.SPIKELAYERS_DEVICE ?? '').toLowerCase() === 'cpu';
  const cuda: CudaStatus = { ...info.cuda, disabledByEnv };
  if (disabledByEnv && cuda.available) {
    cuda.available = false;
    cuda.code = ErrorCodes.CUDA_DISABLED;
    cuda.reason = 'CUDA is disabled by SPIKELAYERS_DEVICE=cpu';
  }
  const devices = [
    'cpu',
    ...(cuda.available ? cuda.devices.filter((d) => d.usable).map((d) => `cuda:${d.index}`) : []),
  ];
  return { ...info, binary: loadedFrom, cuda, devices };
}

/** Sets the number of OpenMP threads the kernels use (results do not depend on it). */
export function setNumThreads(n: number): void {
  if (typeof n !== 'number') throw new TypeError(`setNumThreads: n must be a number, got ${typeof n}`);
  if (!Number.isInteger(n) || n < 1 || n > 1024)
    throw new RangeError(`setNumThreads: n must be an integer in [1, 1024], got ${n}`);
  native().setNumThreads(n);
}

/** The number of threads the kernels use. */
export function getNumThreads(): number {
  return native().getNumThreads();
}

/**
 * Normalises a device string: 'cpu'; 'cuda' or 'cuda:N' (throws an Error with the probe's code and
 * reason where that GPU cannot be used); 'auto' (the first usable GPU, else 'cpu'). The default
 * is 'cpu', so CPU results never depend on whether a GPU exists.
 */
export function resolveDevice(device: unknown, what: string): string {
  if (device === undefined || device === null || device === 'cpu') return 'cpu';
  if (typeof device !== 'string')
    throw new TypeError(`${what} must be a string such as 'cpu' or 'cuda', got ${typeof device}`);
  const m = /^cuda(?::(\d+))?$/.exec(device);
  if (device !== 'auto' && !m)
    throw new RangeError(`${what} must be 'cpu', 'cuda', 'cuda:N' or 'auto', got '${device}'`);
  if (testDevice && device !== 'auto' && (m![1] === undefined || m![1] === '0')) return 'cuda:0';
  const c = backendInfo().cuda;
  if (device === 'auto') {
    const d = c.available ? c.devices.find((x) => x.usable) : undefined;
    return d ? `cuda:${d.index}` : 'cpu';
  }
  const index = m![1] === undefined ? 0 : Number(m![1]);
  if (!c.available)
    throw new SpikelayersError(
      c.code || ErrorCodes.CUDA_UNAVAILABLE,
      `${what}: device '${device}' cannot be used: ${c.reason || 'CUDA is not available'}`,
    );
  const dev = c.devices.find((x) => x.index === index);
  if (!dev || !dev.usable)
    throw new SpikelayersError(
      dev ? ErrorCodes.CUDA_DEVICE_TOO_OLD : ErrorCodes.CUDA_NO_DEVICE,
      `${what}: device '${device}' cannot be used: ` +
        (dev
          ? `${dev.name} has compute capability ${dev.computeCapability}, below 7.5`
          : `there are ${c.devices.length} CUDA device(s)`),
    );
  return `cuda:${index}`;
}

let emulateCudaLaunch = false;
/**
 * Internal (tests): when on, CPU layers run the CUDA kernels' per-thread code through the CPU
 * emulation of the launch instead of the OpenMP kernels. Results are identical by design.
 */
export function _setCudaLaunchEmulation(on: boolean): void {
  emulateCudaLaunch = on;
}
export function _cudaLaunchEmulation(): boolean {
  return emulateCudaLaunch;
}

let testDevice = false;
/**
 * Internal (tests): while on, 'cuda' / 'cuda:0' is a stand-in device whose buffers come from the
 * native test memory (host pages behind the same reference-counted handles and caching allocator
 * as CUDA memory; released memory is poisoned, freed memory made inaccessible). Calls on it run
 * the CPU kernels on those pages, so that the ownership of device memory is testable without a
 * GPU. The native switch is process-wide; each thread sets its own resolveDevice flag.
 */
export function _setTestDevice(on: boolean): void {
  native().deviceMemory._useTestMemory(on);
  testDevice = on;
}
export function _testDevice(): boolean {
  return testDevice;
}
