// The LIF layer: a Module whose parameters (sinabs' names) and states (v_mem, i_syn) are
// registered with the base, so that parameters/stateDict/loadStateDict/train/eval/to/zeroGrad
// come from there. Each call reads prepare (check and lower), kernel, commit.
import type { Transform } from 'node:stream';
import type { CustomSpikeFn, ResetFnSpec, SpikeFnSpec, SurrogateSpec } from '../activations.js';
import { _cudaLaunchEmulation } from '../backend.js';
import { kernelConstants } from '../kinds.js';
import { Module } from '../nn/module.js';
import { sameShape } from '../nn/shape.js';
import { Rng } from '../rng.js';
import { sameData } from '../storage.js';
import { layerIterate, layerStream, type LayerIterateOptions, type LayerStreamOptions } from '../stream.js';
import { Tensor, checkTensor, describe } from '../tensor.js';
import { commitBackward, prepareBackward } from './backward.js';
import { bindIo, callIo, INPUT_DTYPES, spikesOf, type CallIo, type SpikeDtype } from './io.js';
import { stepCustomSpikes } from './custom.js';
import { runBackward, runBackwardAsync, runForward, runForwardAsync } from './kernel.js';
import {
  callShape,
  finalStates,
  forwardArgs,
  lowerForward,
  lowerScalars,
  readOut,
  recordingsOf,
  type CallShape,
  type KernelCall,
  type KernelOutputs,
  type KernelScalars,
} from './lowering.js';
import type { BackwardOptions, ForwardOptions, LIFOptions, Recordings, ResetStatesOptions } from './options.js';
import { readLayerOptions, readResetOptions } from './options.js';
import { NeuronParameters, type LoweredDecay } from './params.js';
import { CallQueue } from './queue.js';
import { NeuronState, type StartState, type StateName } from './state.js';
import { Tape, releaseStorages } from './tape.js';
import { LIF_VARIANT, type LayerKind, type LayerVariant } from './variant.js';

/** A forward, checked and lowered, not yet run. */
interface PreparedForward {
  shape: CallShape;
  call: KernelCall;
  outputs: KernelOutputs;
  start: StartState;
  training: boolean;
  mem: LoweredDecay;
  syn: LoweredDecay | null;
  outTensor: Tensor | null;
  io: CallIo;
  ioStatus: Float64Array | null;
  what: string;
}

/**
 * The sinabs LIF layer (leaky integrate-and-fire), computed as sinabs 3.1.3 computes it.
 * Input (B, T, ...neurons); state persists across calls; `backward` gives sinabs' surrogate
 * gradients through time for the input and the time constants.
 */
export class LIF extends Module {
  readonly trainAlphas: boolean;
  readonly normInput: boolean;
  readonly recordStates: boolean;
  readonly spikeFn: SpikeFnSpec | null;
  readonly resetFn: ResetFnSpec;
  readonly surrogateGradFn: SurrogateSpec;
  /** The element type of the spikes forward returns: 'float32' (default) or 'uint8'. */
  readonly spikeDtype: SpikeDtype;
  /** The family member (from the variant): LIF, IAF or ExpLeak. */
  readonly kind: LayerKind;
  readonly #variant: LayerVariant;
  readonly #params: NeuronParameters;
  readonly #state: NeuronState;
  readonly #tape = new Tape();
  readonly #queue = new CallQueue();
  readonly #rng: Rng;
  #recordings: Recordings = {};
  #firingRate: number | null = null;
  /** The kernel scalars of the last call and the threshold and min_v_mem they were lowered for. */
  #scalars: { theta: number; minV: number | null; value: KernelScalars } | null = null;

  constructor(options: LIFOptions);
  /** @internal (IAF and ExpLeak) */
  constructor(options: LIFOptions, variant: LayerVariant);
  constructor(options: LIFOptions, variant: LayerVariant = LIF_VARIANT) {
    super();
    const c = readLayerOptions(options, variant);
    this.#variant = variant;
    this.kind = variant.kind;
    this.trainAlphas = c.trainAlphas;
    this.normInput = c.normInput;
    this.recordStates = c.recordStates;
    this.spikeFn = c.spikeFn;
    this.resetFn = c.resetFn;
    this.surrogateGradFn = c.surrogateGradFn;
    this.spikeDtype = c.spikeDtype;
    this._setDevice(c.device);
    this.#params = new NeuronParameters(c);
    for (const [name, t, check] of this.#params.slots()) {
      t?._relocate(c.device);
      this.registerParameter(name, t, check);
    }
    this.#rng = new Rng(c.seed);
    const names: StateName[] = this.#params.hasSynapse ? ['v_mem', 'i_syn'] : ['v_mem'];
    this.#state = new NeuronState(names, c.shape, c.device);
    for (const n of names)
      this.registerBuffer(
        n,
        this.#state.slot(n, () => this.device),
      );
  }

  /** sinabs' class name: the variant's kind (LIF, IAF or ExpLeak). */
  override get typeName(): string {
    return this.kind;
  }

  // ---- parameters -----------------------------------------------------------------------------

  /** True when the layer has a synaptic current (tauSyn given). */
  get hasSynapse(): boolean {
    return this.#params.hasSynapse;
  }
  /** The tau_mem parameter (null with trainAlphas, where sinabs has no such attribute, and for IAF). */
  get tauMem(): Tensor | null {
    return this.#params.tauMem;
  }
  /** The tau_syn parameter, or null. */
  get tauSyn(): Tensor | null {
    return this.#params.tauSyn;
  }
  /** The alpha_mem parameter (trainAlphas only, else null). */
  get alphaMem(): Tensor | null {
    return this.#params.fixedAlphaMem ? null : this.#params.alphaMem;
  }
  /** The alpha_syn parameter (trainAlphas with tauSyn only, else null). */
  get alphaSyn(): Tensor | null {
    return this.#params.alphaSyn;
  }
  /** The spike threshold parameter (no gradient); null for ExpLeak, which does not spike. */
  get spikeThreshold(): Tensor | null {
    return this.#params.threshold;
  }
  /** The min_v_mem parameter (no gradient) or null. */
  get minVMem(): Tensor | null {
    return this.#params.minVMem;
  }
  /** exp(-1/tau_mem), or alpha_mem with trainAlphas (a copy). */
  get alphaMemCalculated(): Tensor {
    return this.#params.alphaMemCalculated();
  }
  /** exp(-1/tau_syn), alpha_syn with trainAlphas, or null. */
  get alphaSynCalculated(): Tensor | null {
    return this.#params.alphaSynCalculated();
  }
  /** tau_mem, or -1/log(alpha_mem) with trainAlphas (a copy). */
  get tauMemCalculated(): Tensor {
    return this.#params.tauMemCalculated();
  }
  /** tau_syn, -1/log(alpha_syn) with trainAlphas, or null. */
  get tauSynCalculated(): Tensor | null {
    return this.#params.tauSynCalculated();
  }

  // ---- state ----------------------------------------------------------------------------------

  /** The membrane state (B, ...neurons) as a copy on the layer's device, or null before the first forward. */
  get vMem(): Tensor | null {
    return this.#state.copy('v_mem', this.device);
  }
  /** The synaptic current state, or null (no tauSyn, or before the first forward). */
  get iSyn(): Tensor | null {
    return this.hasSynapse ? this.#state.copy('i_syn', this.device) : null;
  }
  /** The state shape including the batch dimension, or null before initialisation. */
  get shape(): number[] | null {
    return this.#state.shape;
  }
  /** Recordings of the last forward (recordStates): state after every step, (B, T, ...neurons). */
  get recordings(): Recordings {
    return { ...this.#recordings };
  }
  /** Mean of the last forward's output, or null before the first forward. */
  get firingRate(): number | null {
    return this.#firingRate;
  }
  /** Number of forward calls waiting for their backward. */
  get pendingCalls(): number {
    return this.#tape.size;
  }

  /** Re-seeds the generator used for batch resampling and randomised resets. */
  manualSeed(seed: number): this {
    if (typeof seed !== 'number' || !Number.isInteger(seed))
      throw new TypeError(`manualSeed: seed must be an integer, got ${describe(seed)}`);
    this.#rng.seed(seed);
    return this;
  }

  /** Zeros the states (or fills them at random) and cuts the gradient path. No-op before initialisation. */
  override resetStates(opts?: ResetStatesOptions): void {
    this.#queue.assertIdle('resetStates');
    const { randomize, ranges } = readResetOptions(opts);
    this.#tape.cut();
    this.#state.fill(this.device, randomize ? this.#rng : null, ranges);
  }

  /** Keeps the state values but cuts the gradient path (discards pending backward data). */
  override detachStates(): void {
    this.#queue.assertIdle('detachStates');
    this.#tape.cut();
  }

  // ---- Module hooks -----------------------------------------------------------------------------

  // An async call takes the train/eval mode when it is issued: switching modes may happen while
  // one is in flight. Everything else that changes the layer waits.
  protected override _assertIdle(what: string): void {
    if (what !== 'train' && what !== 'eval') this.#queue.assertIdle(what);
  }
  protected override _onZeroGrad(): void {
    this.#tape.cut();
  }
  protected override _checkLoad(values: ReadonlyMap<string, { value: Tensor; key: string }>): void {
    this.#state.checkLoad(values);
  }
  protected override _afterLoad(): void {
    this.#state.completeAfterLoad(this.device);
    this.#tape.cut();
  }
  protected override _moveExtra(device: string): void {
    if (device === this.device) return;
    this.#tape.moveTo(device);
    const moved: Recordings = {};
    for (const [k, t] of Object.entries(this.#recordings) as [keyof Recordings, Tensor][]) moved[k] = t.to(device);
    this.#recordings = moved;
  }
  protected override extraRepr(): string {
    const fmt = (t: Tensor | null): string =>
      t === null ? 'None' : t.size === 1 ? String(t.item()) : `Tensor[${t.shape.join(', ')}]`;
    const parts: string[] = [];
    const leak = this.#variant.leak;
    if (leak) parts.push(`tau_mem=${fmt(this.tauMemCalculated)}`);
    if (this.hasSynapse) parts.push(`tau_syn=${fmt(this.tauSynCalculated)}`);
    if (this.spikeThreshold) parts.push(`spike_threshold=${fmt(this.spikeThreshold)}`);
    if (this.minVMem) parts.push(`min_v_mem=${fmt(this.minVMem)}`);
    if (leak) parts.push(`norm_input=${this.normInput ? 'True' : 'False'}`);
    return parts.join(', ');
  }

  // ---- forward --------------------------------------------------------------------------------

  #prepare(input: unknown, opts: ForwardOptions | undefined, what: string, training: boolean): PreparedForward {
    const dev = this.device;
    const { x, shape } = callShape(input, dev, what, INPUT_DTYPES);
    const outTensor = readOut(opts, what, [this.spikeDtype]);
    if (this.spikeDtype !== 'float32' && dev !== 'cpu')
      throw new TypeError(`${what}: spikeDtype '${this.spikeDtype}' needs a cpu layer, this one is on ${dev}`);
    if (outTensor) {
      if (!sameShape(outTensor.shape, shape.inputShape))
        throw new RangeError(
          `${what}: out must have the input's shape [${shape.inputShape.join(', ')}], got [${outTensor.shape.join(', ')}]`,
        );
      if (outTensor.device !== dev)
        throw new TypeError(`${what}: out is on ${outTensor.device} but the layer is on ${dev}`);
      // (only float32 can be both: out has the spike dtype, tensors of other dtypes never share data)
      if (outTensor.dtype === 'float32' && x.dtype === 'float32' && sameData(outTensor._storage(), x._storage()))
        throw new RangeError(`${what}: out must not be the input tensor`);
      if (outTensor.dtype === 'float32' && this.#tape.holdsInput(outTensor._storage()))
        throw new RangeError(
          `${what}: out is the input of a call still waiting for its backward; writing into it would corrupt that backward`,
        );
    }
    const p = this.#params;
    const mem = p.decay('mem', shape.neuronShape, dev, this.trainAlphas);
    const syn = p.hasSynapse ? p.decay('syn', shape.neuronShape, dev, this.trainAlphas) : null;
    const scalars = this.#lowerScalars(p.thresholdValue(), p.minVValue());
    // the state preparation (sinabs' rules) makes new arrays: the layer changes only on commit
    const start = this.#state.start(shape.B, shape.neuronShape, this.#tape.stateLinked(), this.#rng, dev);
    const emulate = _cudaLaunchEmulation();
    const custom = scalars.spike === kernelConstants().spike.given;
    // the kernel reads and writes the compact dtypes itself in an eval forward on the CPU
    const io = callIo(x, this.spikeDtype, outTensor, dev === 'cpu' && !emulate && !training && !custom);
    const { call, outputs } = lowerForward(scalars, shape, { mem, syn }, io.x, start.values, {
      training,
      recordStates: this.recordStates,
      out: io.out,
      device: dev,
      emulate,
      K: kernelConstants().checkpointInterval,
    });
    if (custom) stepCustomSpikes(call, this.spikeFn as CustomSpikeFn, dev);
    const ioStatus = bindIo(call, outputs, x, io);
    return { shape, call, outputs, start, training, mem, syn, outTensor, io, ioStatus, what };
  }

  // The spike, reset and surrogate choices are fixed at construction; the scalars change only with
  // the threshold and min_v_mem values (compared with Object.is: -0 and 0 differ).
  #lowerScalars(theta: number, minV: number | null): KernelScalars {
    const m = this.#scalars;
    if (m && Object.is(m.theta, theta) && Object.is(m.minV, minV)) return m.value;
    const value = lowerScalars(
      this.spikeFn,
      this.resetFn,
      this.surrogateGradFn,
      theta,
      minV,
      this.normInput,
      this.#params.hasSynapse,
    );
    this.#scalars = { theta, minV, value };
    return value;
  }

  #commit(p: PreparedForward, spikeSum: number): Tensor {
    const { B, T, N, neuronShape, inputShape } = p.shape;
    const dev = this.device;
    const spikes = spikesOf(p.outputs, p.io, p.ioStatus, inputShape, dev, p.what); // may refuse: before any change
    if (p.start.recreated) this.#tape.cut();
    this.#state.commit(finalStates(p.outputs), [B, ...neuronShape]);
    this.#firingRate = spikeSum / (B * T * N);
    this.#recordings = {};
    const rec = recordingsOf(p.outputs);
    if (rec.vMem) this.#recordings.vMem = Tensor._adopt(rec.vMem, inputShape, dev);
    if (rec.iSyn) this.#recordings.iSyn = Tensor._adopt(rec.iSyn, inputShape, dev);
    if (p.training) {
      this.#tape.push({
        B,
        T,
        N,
        inputShape,
        call: p.call,
        link: p.start.link,
        carry: null,
        memGrad: p.mem.grad,
        synGrad: p.syn?.grad ?? null,
        customSurrogate: typeof this.surrogateGradFn === 'function' ? this.surrogateGradFn : null,
      });
    } else {
      this.#tape.detachState(); // an eval forward detaches the state
      releaseStorages(p.call); // nothing keeps the call: give back what it owns
    }
    return spikes;
  }

  /**
   * Runs the layer over an input (B, T, ...neurons) and returns the spikes, same shape (the
   * membrane potential for ExpLeak or spikeFn null).
   * State carries over from the previous call (sinabs' rules for shape changes).
   */
  forward(input: Tensor, opts?: ForwardOptions): Tensor {
    this.#queue.assertIdle('forward');
    const rngState = this.#rng.state();
    try {
      const p = this.#prepare(input, opts, 'forward', this.training);
      return this.#commit(p, runForward(forwardArgs(p.call, p.outputs)));
    } catch (e) {
      this.#rng.seed(rngState); // a rejected call leaves the generator as it was
      throw e;
    }
  }

  /** forward() on the libuv thread pool. Calls on one layer run one after another, in order. */
  forwardAsync(input: Tensor, opts?: ForwardOptions): Promise<Tensor> {
    // The input's data and the train/eval mode are taken now, as a sync call would take them.
    let x: Tensor;
    const training = this.training;
    try {
      x = checkTensor(input, 'forwardAsync: input', INPUT_DTYPES)._share();
    } catch (e) {
      return Promise.reject(e);
    }
    return this.#queue.enqueue(async () => {
      const rngState = this.#rng.state();
      try {
        const p = this.#prepare(x, opts, 'forwardAsync', training);
        return this.#commit(p, await runForwardAsync(forwardArgs(p.call, p.outputs)));
      } catch (e) {
        this.#rng.seed(rngState);
        throw e;
      }
    });
  }

  // ---- backward -------------------------------------------------------------------------------

  /**
   * Backward of the most recent forward not yet backwarded: returns dL/d(its input) given
   * dL/d(its output), accumulates parameter gradients into `.grad`, and carries the state
   * adjoint into the call before it. Call it for earlier calls in reverse order.
   */
  backward(gradOutput: Tensor, opts?: BackwardOptions): Tensor {
    this.#queue.assertIdle('backward');
    const p = prepareBackward(this.#tape, gradOutput, opts, 'backward', this.device);
    runBackward(p.args);
    return commitBackward(this.#tape, p, this.device);
  }

  /** backward() on the libuv thread pool, queued behind other async calls on this layer. */
  backwardAsync(gradOutput: Tensor, opts?: BackwardOptions): Promise<Tensor> {
    let g: Tensor;
    try {
      g = checkTensor(gradOutput, 'backwardAsync: gradOutput', INPUT_DTYPES)._share();
    } catch (e) {
      return Promise.reject(e);
    }
    return this.#queue.enqueue(async () => {
      const p = prepareBackward(this.#tape, g, opts, 'backwardAsync', this.device);
      await runBackwardAsync(p.args);
      return commitBackward(this.#tape, p, this.device);
    });
  }

  // ---- streams --------------------------------------------------------------------------------

  /**
   * A Node Transform (object mode) that runs this layer over (B, T, ...neurons) chunks and emits
   * their outputs, carrying state across chunks: splitting a sequence into chunks gives the same
   * output as one call. Puts the layer in eval mode unless `{ eval: false }`.
   */
  stream(options?: LayerStreamOptions): Transform {
    return layerStream(this, options);
  }

  /** The async-iterator form of stream(): yields the output of each chunk of `source`. */
  iterate(source: AsyncIterable<Tensor> | Iterable<Tensor>, options?: LayerIterateOptions): AsyncGenerator<Tensor> {
    return layerIterate(this, source, options);
  }
}
