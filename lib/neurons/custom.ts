// User callables: a custom spike function (called once per step with the pre-spike membrane) and
// a custom surrogate (called once per backward with every pre-spike membrane value). Both run on
// the host; the kernels do the rest with the "given" spike and surrogate kinds.
import type { CustomSpikeFn, CustomSurrogateFn } from '../activations.js';
import { kernelConstants } from '../kinds.js';
import { alloc, place, toHost, type Storage } from '../storage.js';
import { describe } from '../tensor.js';
import { runForward } from './kernel.js';
import type { KernelCall } from './lowering.js';

function checkResult(s: unknown, n: number, what: string, fn: string, unit: string): ArrayLike<number> {
  if (s === null || typeof s !== 'object' || typeof (s as ArrayLike<number>).length !== 'number')
    throw new TypeError(`${what}: ${fn} must return a Float32Array of ${n} ${unit}, got ${describe(s)}`);
  return s as ArrayLike<number>;
}

/**
 * Steps a lowered forward through time, asking `sf` for the spikes of each step, then turns the
 * call into a replay of those spikes (`spike` given, `spikesGiven` set), which the kernel then
 * runs once in full for the output, state, recordings and checkpoints.
 */
export function stepCustomSpikes(call: KernelCall, sf: CustomSpikeFn, device: string): void {
  const { B, T, N } = call;
  const K = kernelConstants();
  const BN = B * N;
  const given = new Float32Array(B * T * N);
  // the user's function runs on the host: step with host copies (a round trip for CUDA layers)
  const x = toHost(call.x);
  const hostArgs = { alphaMem: toHost(call.alphaMem), alphaSyn: call.alphaSyn ? toHost(call.alphaSyn) : undefined };
  let v: Float32Array = toHost(call.v0);
  let i: Float32Array | undefined = call.i0 ? toHost(call.i0) : undefined;
  const xt = new Float32Array(BN),
    u = new Float32Array(BN),
    st = new Float32Array(BN);
  const scratch = new Float32Array(BN);
  for (let t = 0; t < T; ++t) {
    for (let b = 0; b < B; ++b) xt.set(x.subarray((b * T + t) * N, (b * T + t + 1) * N), b * N);
    const step = {
      ...call,
      ...hostArgs,
      emulate: false,
      T: 1,
      x: xt,
      v0: v,
      i0: i,
      out: scratch,
      v1: new Float32Array(BN),
      i1: i ? new Float32Array(BN) : undefined,
      ckV: undefined,
      ckI: undefined,
    };
    // u_t from the state (the spike kind here is irrelevant: only uOut is used) ...
    runForward({
      ...step,
      spike: K.spike.multi,
      v1: new Float32Array(BN),
      i1: i ? new Float32Array(BN) : undefined,
      uOut: u,
    });
    // ... the user's spikes ...
    const s = checkResult(sf.forward(u.slice(), call.theta), BN, 'LIF', 'spikeFn.forward', 'spike counts');
    if (s.length !== BN)
      throw new RangeError(
        `LIF: spikeFn.forward returned ${s.length} values, expected ${BN} (one per neuron of the batch)`,
      );
    for (let q = 0; q < BN; ++q) st[q] = Number(s[q]);
    // ... then reset and clip with those spikes.
    runForward({ ...step, spike: K.spike.given, spikesGiven: st });
    for (let b = 0; b < B; ++b) given.set(st.subarray(b * N, (b + 1) * N), (b * T + t) * N);
    v = step.v1;
    i = step.i1;
  }
  // One full pass replaying the given spikes yields output, state, recordings and checkpoints
  // with the same step code; the pending call keeps the spikes for its backward.
  call.spike = K.spike.given;
  call.spikesGiven = place(device, given);
}

/** sigma(u_t) from a custom surrogate for every step of a pending call, recomputing u_t first. */
export function customSigma(call: KernelCall, fn: CustomSurrogateFn, device: string, what: string): Storage {
  const { B, T, N } = call;
  const BN = B * N;
  const uS = alloc(device, B * T * N);
  runForward({
    ...call,
    out: alloc(device, B * T * N),
    v1: alloc(device, BN),
    i1: call.hasSyn ? alloc(device, BN) : undefined,
    uOut: uS,
    ckV: undefined,
    ckI: undefined,
  });
  const u = toHost(uS);
  const s = checkResult(fn(u, call.theta), u.length, what, 'surrogateGradFn', 'values');
  if (s.length !== u.length)
    throw new RangeError(`${what}: surrogateGradFn returned ${s.length} values, expected ${u.length}`);
  return place(device, s instanceof Float32Array ? s : Float32Array.from(s));
}
