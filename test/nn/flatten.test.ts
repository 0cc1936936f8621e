// Flatten (torch semantics), FlattenTime and UnflattenTime (sinabs): shapes from the definitions,
// no data copied, backward reshapes back in reverse order of the pending calls.
import { expect } from 'chai';
import { ErrorCodes, Flatten, FlattenTime, Tensor, UnflattenTime } from '../../lib/index.js';
import { uniform } from '../support/random.js';

const x = (shape: number[], seed = 1) =>
  Tensor.from(
    uniform(
      seed,
      shape.reduce((a, b) => a * b, 1),
      -1,
      1,
    ),
    shape,
  );

describe('Flatten, FlattenTime, UnflattenTime', function () {
  it('Flatten merges startDim..endDim (negative dims from the end)', function () {
    const s = [2, 3, 4, 5];
    const cases: [object | undefined, number[]][] = [
      [undefined, [2, 60]],
      [{ startDim: 2 }, [2, 3, 20]],
      [{ endDim: -2 }, [2, 12, 5]],
      [{ startDim: -3, endDim: -2 }, [2, 12, 5]],
      [{ startDim: 0 }, [120]],
      [{ startDim: 3 }, [2, 3, 4, 5]],
      [{ startDim: 1, endDim: 1 }, [2, 3, 4, 5]],
    ];
    for (const [o, want] of cases)
      expect(new Flatten(o as never).forward(x(s)).shape, JSON.stringify(o)).to.deep.equal(want);
    expect(new Flatten({ startDim: 0 }).forward(Tensor.scalar(3)).shape, '0-d as in torch').to.deep.equal([1]);
    expect(new Flatten().forward(x([2, 0, 3])).shape).to.deep.equal([2, 0]);
  });

  it('the output shares the input data (no copy) and holds the same values', function () {
    const t = x([2, 3, 4]);
    const y = new Flatten().forward(t);
    expect(y._storage()).to.equal(t._storage());
    expect(y.toArray()).to.deep.equal(t.toArray());
  });

  it('backward reshapes to the input shape of the most recent pending call', function () {
    const f = new Flatten();
    f.forward(x([2, 3, 4]));
    f.forward(x([5, 2, 2]));
    expect(f.pendingCalls).to.equal(2);
    const g2 = x([5, 4], 7);
    const b2 = f.backward(g2);
    expect(b2.shape).to.deep.equal([5, 2, 2]);
    expect(b2._storage()).to.equal(g2._storage());
    expect(() => f.backward(x([2, 13]))).to.throw(
      RangeError,
      /shape of the pending call's output \[2, 12\], got \[2, 13\]/,
    );
    expect(f.backward(x([2, 12])).shape).to.deep.equal([2, 3, 4]);
    let err: unknown;
    try {
      f.backward(x([2, 12]));
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(RangeError);
    expect((err as { code?: string }).code).to.equal(ErrorCodes.NOTHING_PENDING);
  });

  it('eval keeps nothing; resetStates discards pending calls', function () {
    const f = new Flatten().eval();
    f.forward(x([2, 3, 4]));
    expect(f.pendingCalls).to.equal(0);
    f.train().forward(x([2, 3, 4]));
    f.resetStates();
    expect(f.pendingCalls).to.equal(0);
  });

  it('bad options and shapes: TypeError/RangeError naming the argument', function () {
    expect(() => new Flatten({ start_dim: 2 } as never)).to.throw(
      TypeError,
      /unknown option 'start_dim' \(did you mean 'startDim'\?\)/,
    );
    expect(() => new Flatten({ startDim: 1.5 })).to.throw(RangeError, /startDim/);
    expect(() => new Flatten({ startDim: 3, endDim: 1 })).to.throw(
      RangeError,
      /startDim \(3\) must not come after endDim \(1\)/,
    );
    expect(() => new Flatten().forward(x([7]))).to.throw(
      RangeError,
      /forward: startDim 1 is out of range for an input of rank 1 \(expected -1\.\.0\)/,
    );
    expect(() => new Flatten({ startDim: -1, endDim: 0 }).forward(x([2, 3]))).to.throw(
      RangeError,
      /comes after endDim/,
    );
    expect(() => new Flatten().forward([1, 2] as never)).to.throw(TypeError, /forward: input must be a Tensor/);
  });

  it('FlattenTime: (B, T, ...) -> (B*T, ...) and back', function () {
    const f = new FlattenTime();
    const t = x([2, 5, 3, 4]);
    const y = f.forward(t);
    expect(y.shape).to.deep.equal([10, 3, 4]);
    expect(y.toArray()).to.deep.equal(t.toArray());
    expect(f.backward(x([10, 3, 4])).shape).to.deep.equal([2, 5, 3, 4]);
    expect(() => f.forward(x([6]))).to.throw(RangeError, /rank >= 2/);
    expect(() => new FlattenTime({ a: 1 } as never)).to.throw(TypeError, /unknown option 'a'/);
    expect(String(f)).to.equal('FlattenTime(start_dim=0, end_dim=1)');
  });

  it('UnflattenTime: (B*T, ...) -> (B, T, ...), sample-major', function () {
    const u = new UnflattenTime({ batchSize: 2 });
    const t = x([10, 3]);
    const y = u.forward(t);
    expect(y.shape).to.deep.equal([2, 5, 3]);
    // row b*T + t is sample b at step t: element (b=1, t=2, n=1) is row 7, column 1
    expect(y.toFloat32Array()[(1 * 5 + 2) * 3 + 1]).to.equal(t.toFloat32Array()[7 * 3 + 1]);
    expect(u.backward(x([2, 5, 3])).shape).to.deep.equal([10, 3]);
    expect(() => u.forward(x([9, 3]))).to.throw(RangeError, /first dimension 9 .* not a multiple of batchSize 2/);
    expect(() => new UnflattenTime({} as never)).to.throw(TypeError, /batchSize is required/);
    expect(() => new UnflattenTime({ batchSize: 0 })).to.throw(RangeError, /batchSize/);
    expect(() => new UnflattenTime({ batch_size: 2 } as never)).to.throw(TypeError, /did you mean 'batchSize'/);
    expect(String(u)).to.equal('UnflattenTime(batch_size=2)');
    expect(String(new Flatten())).to.equal('Flatten(start_dim=1, end_dim=-1)');
    expect(new Flatten().stateDict()).to.deep.equal({});
  });
});
