// Per-neuron spike thresholds for the layers fromNir builds. The neuron kernels take one threshold
// per layer, while a NIR IF/LIF node has one per neuron. With MultiSpike and a subtractive reset,
// a layer with thresholds θ on input x gives the same spikes as the layer with threshold 1 on
// input x / θ: its membrane is v / θ at every step (and an IF's clip at -θ becomes -1). These
// classes divide the input by θ (broadcast against the neuron shape from the right) before the
// layer runs, and divide the input gradient by θ after its backward. The gradients are those of the
// threshold-1 layer on the scaled input: its surrogate sees v / θ against 1, not v against θ.
import { Tensor, checkTensor } from '../tensor.js';
import { broadcastMap } from '../neurons/broadcast.js';
import { IAFSqueeze, LIFSqueeze, type SqueezeOptions } from '../neurons/squeeze.js';
import type { BackwardOptions, ForwardOptions, LIFOptions } from '../neurons/options.js';
import type { IAFOptions } from '../neurons/iaf.js';
import type { LIF } from '../neurons/lif.js';

/** x / θ with θ broadcast against x's trailing (neuron) dimensions. */
function divide(x: Tensor, theta: Tensor, what: string): Tensor {
  checkTensor(x, what);
  const shape = x.shape;
  const neurons = shape.slice(1);
  const map = broadcastMap(theta.shape, neurons, `${what}: the spike threshold`);
  const th = theta.toFloat32Array();
  const N = neurons.reduce((a, b) => a * b, 1);
  const d = x.toFloat32Array();
  const out = new Float32Array(d.length);
  for (let k = 0; k < d.length; ++k) out[k] = d[k]! / th[map ? map[k % N]! : 0]!;
  return Tensor.from(out, shape, { device: x.device });
}

function noOut(opts: ForwardOptions | BackwardOptions | undefined, what: string): void {
  if (opts && typeof opts === 'object' && opts.out !== undefined)
    throw new TypeError(`${what}: out is not supported on a layer with per-neuron thresholds`);
}

// A mixin base must take `any[]` constructor arguments (TS2545).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type LayerCtor = new (...args: any[]) => LIF;

/** The forward/backward wrapping shared by both classes: input / θ in, input gradient / θ out. */
function ThresholdScaled<TBase extends LayerCtor>(Base: TBase): TBase {
  abstract class Scaled extends Base {
    /** The per-neuron thresholds (a host copy). */
    abstract readonly neuronThreshold: Tensor;
    override forward(input: Tensor, opts?: ForwardOptions): Tensor {
      noOut(opts, 'forward');
      return super.forward(divide(input, this.neuronThreshold, 'forward: input'));
    }
    override forwardAsync(input: Tensor, opts?: ForwardOptions): Promise<Tensor> {
      try {
        noOut(opts, 'forwardAsync');
        return super.forwardAsync(divide(input, this.neuronThreshold, 'forwardAsync: input'));
      } catch (e) {
        return Promise.reject(e);
      }
    }
    override backward(gradOutput: Tensor, opts?: BackwardOptions): Tensor {
      noOut(opts, 'backward');
      return divide(super.backward(gradOutput), this.neuronThreshold, 'backward: gradOutput');
    }
    override async backwardAsync(gradOutput: Tensor, opts?: BackwardOptions): Promise<Tensor> {
      noOut(opts, 'backwardAsync');
      return divide(await super.backwardAsync(gradOutput), this.neuronThreshold, 'backwardAsync: gradOutput');
    }
  }
  return Scaled;
}

/**
 * LIFSqueeze with one spike threshold per neuron (`neuronThreshold`), run as a threshold-1 layer
 * on input / threshold: the spikes are those of the per-neuron layer, `v_mem` is v / threshold.
 * `backward` gives the gradients of that threshold-1 layer (its surrogate sees v / threshold
 * against 1), chained through the division. `out` options are not supported.
 */
export class ThresholdScaledLIFSqueeze extends ThresholdScaled(LIFSqueeze) {
  /** The per-neuron thresholds (a host copy). */
  readonly neuronThreshold: Tensor;
  constructor(options: Omit<LIFOptions, 'spikeThreshold'> & SqueezeOptions, threshold: Tensor) {
    super({ ...options, spikeThreshold: 1 });
    this.neuronThreshold = threshold.to('cpu');
  }
}

/**
 * IAFSqueeze with one spike threshold per neuron and the membrane clipped at -threshold (what
 * fromNir builds for an IF node), run as a threshold-1 layer clipped at -1 on input / threshold.
 * `v_mem` is v / threshold; `backward` as for {@link ThresholdScaledLIFSqueeze}.
 */
export class ThresholdScaledIAFSqueeze extends ThresholdScaled(IAFSqueeze) {
  /** The per-neuron thresholds (a host copy). */
  readonly neuronThreshold: Tensor;
  constructor(options: Omit<IAFOptions, 'spikeThreshold' | 'minVMem'> & SqueezeOptions, threshold: Tensor) {
    super({ ...options, spikeThreshold: 1, minVMem: -1 });
    this.neuronThreshold = threshold.to('cpu');
  }
}
