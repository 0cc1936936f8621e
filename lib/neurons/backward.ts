// The two halves of a neuron layer's backward around the kernel: preparing (check the gradient and
// `out` against the most recent pending call, lower the kernel's arguments) and committing (pop the
// call from the tape, carry the state adjoint into the call before it, accumulate the time
// constants' gradients). Nothing changes before the commit.
import type { NativeBackwardArgs } from '#binding';
import { _cudaLaunchEmulation } from '../backend.js';
import { ErrorCodes, codedError } from '../errors.js';
import { kernelConstants } from '../kinds.js';
import { sameShape } from '../nn/shape.js';
import { allocOutput } from '../storage.js';
import { Tensor, checkTensor } from '../tensor.js';
import { customSigma } from './custom.js';
import { INPUT_DTYPES, float32Grad } from './io.js';
import { lowerBackward, readOut, startAdjoints } from './lowering.js';
import type { BackwardOptions } from './options.js';
import { accumulateGrad } from './params.js';
import type { PendingCall, Tape } from './tape.js';

/** A backward, checked and lowered, not yet run. */
export interface PreparedBackward {
  rec: PendingCall;
  args: NativeBackwardArgs;
  outTensor: Tensor | null;
}

/** Checks a backward of the top call of `tape` on `dev` and lowers it; changes nothing. */
export function prepareBackward(
  tape: Tape,
  gradOutput: unknown,
  opts: BackwardOptions | undefined,
  what: string,
  dev: string,
): PreparedBackward {
  const g = float32Grad(checkTensor(gradOutput, `${what}: gradOutput`, INPUT_DTYPES)); // math in float32
  if (g.device !== dev)
    throw new TypeError(`${what}: gradOutput is on ${g.device} but the layer is on ${dev}; move one with .to()`);
  const rec = tape.top();
  if (!rec)
    throw codedError(
      ErrorCodes.NOTHING_PENDING,
      `${what}: no forward call is pending (run forward in training mode first; resetStates/detachStates/zeroGrad discard pending calls)`,
    );
  if (!sameShape(g.shape, rec.inputShape))
    throw new RangeError(
      `${what}: gradOutput must have the shape of the pending call's output [${rec.inputShape.join(', ')}], got [${g.shape.join(', ')}]`,
    );
  const outTensor = readOut(opts, what);
  if (outTensor) {
    if (outTensor.device !== dev)
      throw new TypeError(`${what}: out is on ${outTensor.device} but the layer is on ${dev}`);
    if (!sameShape(outTensor.shape, rec.inputShape))
      throw new RangeError(
        `${what}: out must have shape [${rec.inputShape.join(', ')}], got [${outTensor.shape.join(', ')}]`,
      );
    if (tape.holdsInput(outTensor._storage(), rec))
      throw new RangeError(
        `${what}: out is the input of an earlier call still waiting for its backward; writing into it would corrupt that backward`,
      );
  }
  const c = rec.call;
  const sigma =
    rec.customSurrogate && c.spike !== kernelConstants().spike.none
      ? customSigma(c, rec.customSurrogate, dev, what)
      : undefined;
  const gradIn = outTensor ? outTensor._storage() : allocOutput(dev, rec.B * rec.T * rec.N);
  const args = lowerBackward(c, rec.carry, g._storage(), gradIn, sigma, {
    device: dev,
    emulate: _cudaLaunchEmulation(),
  });
  return { rec, args, outTensor };
}

/** Applies a backward the kernel ran: the tape, the parameter gradients; returns dL/d(input). */
export function commitBackward(tape: Tape, { rec, args, outTensor }: PreparedBackward, dev: string): Tensor {
  tape.pop(rec, startAdjoints(args), dev);
  accumulateGrad(rec.memGrad, args.gAlphaMem);
  if (rec.synGrad && args.gAlphaSyn) accumulateGrad(rec.synGrad, args.gAlphaSyn);
  return outTensor ?? Tensor._adopt(args.gradIn, rec.inputShape, dev);
}
