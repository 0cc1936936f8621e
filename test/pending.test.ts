// Pending calls and their backward order: a forward after a partial backward starts a new
// gradient path (the call it continues from was already backwarded), and the adjoint meant for
// an earlier call is not handed to the new one.
import { expect } from 'chai';
import { LIF, Tensor } from '../lib/index.js';
import { uniform } from './support/random.js';

const data = (seed: number, n: number, lo: number, hi: number): Float32Array => uniform(seed, n, lo, hi);
const shape = [2, 20, 6];
const x = (k: number) => Tensor.from(data(k, 240, 0, 2.5), shape);
const g = (k: number) => Tensor.from(data(100 + k, 240, -1, 1), shape);
const opts = { tauMem: 8, tauSyn: 4 };

describe('pending calls', function () {
  it('forward after a partial backward: new path, earlier calls keep their adjoint', function () {
    // reference for calls 1 and 2: plain reverse order
    const ref = new LIF(opts);
    ref.forward(x(1));
    ref.forward(x(2));
    const ref2 = ref.backward(g(2)).toFloat32Array();
    const ref1 = ref.backward(g(1)).toFloat32Array();
    // reference for call 3: continues from call 2's state with the gradient path cut
    const ref3l = new LIF(opts);
    ref3l.forward(x(1));
    ref3l.forward(x(2));
    ref3l.detachStates();
    ref3l.forward(x(3));
    const ref3 = ref3l.backward(g(3)).toFloat32Array();

    const l = new LIF(opts);
    l.forward(x(1));
    l.forward(x(2));
    expect(l.backward(g(2)).toFloat32Array()).to.deep.equal(ref2);
    l.forward(x(3));
    expect(l.pendingCalls).to.equal(2);
    expect(l.backward(g(3)).toFloat32Array(), 'call 3').to.deep.equal(ref3);
    expect(l.backward(g(1)).toFloat32Array(), 'call 1 keeps the adjoint from call 2').to.deep.equal(ref1);
  });

  it('out may not overwrite the input of a pending call', function () {
    const l = new LIF(opts);
    const a = x(1);
    l.forward(a);
    expect(() => l.forward(x(2), { out: a })).to.throw(RangeError, /out/);
    expect(l.pendingCalls).to.equal(1);
  });

  it('backward out may not overwrite the input of an earlier pending call (checked as forward checks it)', function () {
    const l = new LIF(opts),
      twin = new LIF(opts);
    const a = x(1);
    const before = a.toFloat32Array();
    l.forward(a);
    l.forward(a);
    twin.forward(x(1));
    twin.forward(x(1));
    expect(() => l.backward(g(2), { out: a })).to.throw(RangeError, /out is the input of an earlier call/);
    expect(l.pendingCalls, 'nothing consumed').to.equal(2);
    expect(a.toFloat32Array(), 'input untouched').to.deep.equal(before);
    // the two backwards still give what a layer that never saw the rejected call gives
    expect(l.backward(g(2)).toFloat32Array(), 'call 2').to.deep.equal(twin.backward(g(2)).toFloat32Array());
    expect(l.backward(g(1)).toFloat32Array(), 'call 1').to.deep.equal(twin.backward(g(1)).toFloat32Array());
  });

  it('backwardAsync rejects out over an earlier pending input too', async function () {
    const l = new LIF(opts);
    const a = x(1);
    l.forward(a);
    l.forward(a);
    let err: unknown;
    try {
      await l.backwardAsync(g(2), { out: a });
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(RangeError);
    expect((err as Error).message).to.match(/backwardAsync: out is the input of an earlier call/);
    expect(l.pendingCalls).to.equal(2);
  });

  it('requiresGrad = false leaves the parameter gradient untouched', function () {
    const l = new LIF(opts);
    l.tauSyn!.requiresGrad = false;
    l.forward(x(1));
    l.backward(g(1));
    expect(l.tauMem!.grad).to.be.instanceOf(Tensor);
    expect(l.tauSyn!.grad).to.equal(null);
  });

  it('forwardAsync takes the input and the mode when it is issued', async function () {
    const l = new LIF(opts);
    const input = x(1);
    const p = l.forwardAsync(input);
    input.dispose();
    l.eval();
    await p;
    expect(l.pendingCalls, 'issued in training mode').to.equal(1);
  });
});
