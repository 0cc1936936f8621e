// Losses with PyTorch semantics (mean reduction), each returning the loss and its gradient with
// respect to the prediction. The reductions run where the tensors live (native kernels; fixed
// order, double accumulation); only the final scalar comes to the host.
import { Tensor, checkTensor, describe } from '../tensor.js';
import { alloc, place } from '../storage.js';
import { fmt, ops } from './tensor-ops.js';

/** A loss value and dL/d(prediction), on the prediction's device. */
export interface LossResult {
  /** The loss (mean reduction), computed in double. */
  loss: number;
  /** The gradient of `loss` with respect to the prediction (same shape and device). */
  grad: Tensor;
}

/**
 * torch.nn.functional.mse_loss with mean reduction: mean((output - target)^2) over all elements,
 * and grad = 2 (output - target) / n. Both tensors must have the same shape and device.
 */
export function mseLoss(output: Tensor, target: Tensor): LossResult {
  const what = 'mseLoss';
  const o = checkTensor(output, `${what}: output`);
  const t = checkTensor(target, `${what}: target`);
  if (o.shape.length !== t.shape.length || o.shape.some((d, k) => d !== t.shape[k]))
    throw new RangeError(`${what}: target must have the shape of output ${fmt(o.shape)}, got ${fmt(t.shape)}`);
  if (o.device !== t.device) throw new TypeError(`${what}: target is on ${t.device} but output is on ${o.device}`);
  if (o.size === 0) throw new RangeError(`${what}: output has no elements (the mean of nothing is undefined)`);
  const grad = alloc(o.device, o.size);
  const { n, emulate } = ops();
  const loss = n.mseLoss({ n: o.size, output: o._storage(), target: t._storage(), grad, emulate });
  return { loss, grad: Tensor._adopt(grad, o.shape, o.device) };
}

/** Class labels: one integer in [0, C) per batch row. */
export type Labels = Int32Array | number[] | Tensor;

/** Checks labels for a batch of B rows and C classes; returns them as floats (exact below 2^24). */
export function readLabels(labels: unknown, B: number, C: number, what: string): Float32Array {
  let values: ArrayLike<number>;
  if (labels instanceof Tensor) {
    checkTensor(labels, `${what}: labels`);
    if (labels.rank !== 1)
      throw new RangeError(
        `${what}: labels must be a 1-d tensor of ${B} class indices, got shape ${fmt(labels.shape)}`,
      );
    values = labels.toFloat32Array();
  } else if (labels instanceof Int32Array || Array.isArray(labels)) {
    values = labels;
  } else {
    throw new TypeError(
      `${what}: labels must be an Int32Array, an array of integers or a Tensor, got ${describe(labels)}`,
    );
  }
  if (values.length !== B)
    throw new RangeError(`${what}: labels must hold one class index per batch row (${B}), got ${values.length}`);
  const out = new Float32Array(B);
  for (let b = 0; b < B; ++b) {
    const v = values[b];
    if (typeof v !== 'number') throw new TypeError(`${what}: labels[${b}] must be a number, got ${describe(v)}`);
    if (!Number.isInteger(v) || v < 0 || v >= C)
      throw new RangeError(`${what}: labels[${b}] = ${v} must be an integer class index in [0, ${C})`);
    out[b] = v;
  }
  return out;
}

/**
 * torch.nn.functional.cross_entropy(logits, labels) with mean reduction:
 * `loss = (1/B) Σ_b [logsumexp(z_b) − z_b[label_b]]`, computed stably in double (max subtracted),
 * and `grad[b, c] = (softmax(z_b)_c − [c = label_b]) / B`.
 *
 * @param logits (B, C) scores (e.g. spike counts summed over time with {@link SumOverTime}).
 * @param labels B class indices in [0, C): an Int32Array, a number[] or an integer-valued Tensor.
 */
export function crossEntropyLoss(logits: Tensor, labels: Labels): LossResult {
  const what = 'crossEntropyLoss';
  const z = checkTensor(logits, `${what}: logits`);
  if (z.rank !== 2) throw new RangeError(`${what}: logits must have shape (B, C), got ${fmt(z.shape)}`);
  const [B, C] = z.shape as [number, number];
  if (B < 1 || C < 1) throw new RangeError(`${what}: logits ${fmt(z.shape)} must have B >= 1 and C >= 1`);
  const lab = place(z.device, readLabels(labels, B, C, what));
  const grad = alloc(z.device, B * C);
  const { n, emulate } = ops();
  const loss = n.crossEntropyLoss({ B, C, logits: z._storage(), labels: lab, grad, emulate });
  return { loss, grad: Tensor._adopt(grad, [B, C], z.device) };
}
