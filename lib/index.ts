/**
 * spikelayers: sinabs' spiking-neuron layers for Node.js.
 *
 * ```ts
 * import { LIF, Tensor } from 'spikelayers';
 * const lif = new LIF({ tauMem: 20 });
 * const spikes = lif.forward(Tensor.from(data, [B, T, N]));
 * ```
 *
 * @packageDocumentation
 */
export { Tensor, MAX_ELEMENTS, type TensorOptions } from './tensor.js';
export {
  DTYPES,
  itemSize,
  float32ToFloat16Bits,
  float16BitsToFloat32,
  float32ToBfloat16Bits,
  bfloat16BitsToFloat32,
  type Dtype,
} from './dtype.js';
export type { SpikeDtype } from './neurons/io.js';
export {
  LIF,
  CHECKPOINT_INTERVAL,
  type LIFOptions,
  type ForwardOptions,
  type BackwardOptions,
  type ResetStatesOptions,
  type Recordings,
  type LayerKind,
} from './layer.js';
export {
  IAF,
  ExpLeak,
  LIFSqueeze,
  IAFSqueeze,
  ExpLeakSqueeze,
  type IAFOptions,
  type ExpLeakOptions,
  type SqueezeOptions,
} from './neurons/index.js';
export {
  MultiSpike,
  SingleSpike,
  MaxSpike,
  MembraneSubtract,
  MembraneReset,
  SingleExponential,
  Heaviside,
  Gaussian,
  MultiGaussian,
  PeriodicExponential,
  type MaxSpikeOptions,
  type MembraneSubtractOptions,
  type MembraneResetOptions,
  type SingleExponentialOptions,
  type HeavisideOptions,
  type GaussianOptions,
  type MultiGaussianOptions,
  type PeriodicExponentialOptions,
  type CustomSpikeFn,
  type CustomSurrogateFn,
  type SpikeFnSpec,
  type ResetFnSpec,
  type Surrogate,
  type SurrogateSpec,
} from './activations.js';
export {
  backendInfo,
  setNumThreads,
  getNumThreads,
  type BackendInfo,
  type CudaStatus,
  type CudaDevice,
} from './backend.js';
export {
  deviceMemoryStats,
  emptyDeviceCache,
  setDeviceCacheLimit,
  deviceCacheLimit,
  hostMemoryStats,
  emptyHostCache,
  setHostCacheLimit,
  hostCacheLimit,
  type DeviceMemoryStats,
} from './memory.js';
export { SpikelayersError, ErrorCodes } from './errors.js';
export {
  layerStream,
  layerIterate,
  type StreamableLayer,
  type LayerStreamOptions,
  type LayerIterateOptions,
} from './stream.js';
export {
  saveSafetensors,
  loadSafetensors,
  encodeSafetensors,
  decodeSafetensors,
  parseSafetensors,
  type SafetensorsContents,
  type SafetensorsDtype,
  type SafetensorsReadOptions,
} from './safetensors.js';
export {
  SGD,
  Adam,
  AdamW,
  clipGradNorm,
  type Optimizer,
  type OptimizerStateDict,
  type ZeroGradOptions,
  type SGDOptions,
  type AdamOptions,
} from './optim.js';
export { Module, type ModuleLike, type StateDict, type LoadStateDictOptions, type BufferSlot } from './nn/module.js';
export { AvgPool2d, SumPool2d, type Pool2dOptions } from './nn/pooling.js';
export { mseLoss, crossEntropyLoss, type LossResult, type Labels } from './nn/losses.js';
export { SumOverTime, MaxOverTime, LastStep, type ReadoutOptions } from './nn/readout.js';
export { Sequential, type ForwardHook } from './nn/sequential.js';
export {
  Flatten,
  FlattenTime,
  UnflattenTime,
  ReshapeModule,
  type FlattenOptions,
  type UnflattenTimeOptions,
} from './nn/flatten.js';
export type { ShapeAware } from './nn/infer.js';
export { Linear, type LinearOptions } from './nn/linear.js';
export {
  SPARSE_DENSITY_THRESHOLD,
  LINEAR_SPARSE_FORWARD_THRESHOLD,
  LINEAR_SPARSE_WEIGHT_GRAD_THRESHOLD,
} from './nn/sparse.js';
export type { InputGradOptions } from './nn/backward-options.js';
export { Conv2d, type Conv2dOptions } from './nn/conv2d.js';
export { manualSeed } from './nn/init.js';
export {
  EventDataset,
  permutation,
  type Batch,
  type BatchOptions,
  type BinOptions,
  type TimeArray,
  type UnitArray,
} from './data/events.js';
export { loadShd, type ShdOptions } from './data/shd.js';
export { syntheticEvents, classPatterns, type SyntheticOptions, type ClassPattern } from './data/synthetic.js';
export {
  readNir,
  type NirGraph,
  type NirNode,
  type NirValue,
  type NirArray,
  type NirString,
  type NirDict,
} from './nir/read.js';
export { fromNir, type FromNirOptions } from './nir/from-nir.js';
export { ThresholdScaledLIFSqueeze, ThresholdScaledIAFSqueeze } from './nir/threshold.js';
export { toNir, type ToNirOptions, type NirExport } from './nir/to-nir.js';
export type { NirLoss } from './nir/lossy.js';
export { writeNir, type WriteNirOptions, NIR_VERSIONS, NIR_CURRENT_VERSION, type NirVersion } from './nir/write.js';
