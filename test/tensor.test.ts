// Tensor: copies, shape bookkeeping, disposal, argument checking and device handling.
import { expect } from 'chai';
import { ErrorCodes, LIF, SpikelayersError, Tensor, backendInfo } from '../lib/index.js';

/** Runs fn, expects it to throw, returns the error. */
function thrown(fn: () => unknown): Error & { code?: string } {
  try {
    fn();
  } catch (e) {
    expect(e).to.be.instanceOf(Error);
    return e as Error & { code?: string };
  }
  expect.fail('expected an exception');
}

describe('Tensor', function () {
  describe('Tensor.from', function () {
    it('copies a Float32Array: mutating the source afterwards does not change the tensor', function () {
      const src = Float32Array.of(1, 2, 3, 4, 5, 6);
      const t = Tensor.from(src, [2, 3]);
      src[0] = 100;
      src.fill(-1, 1);
      expect(Array.from(t.toFloat32Array())).to.deep.equal([1, 2, 3, 4, 5, 6]);
    });

    it('copies a plain array and a typed array of another type', function () {
      const arr = [1.5, -2, 3];
      const t = Tensor.from(arr, [3]);
      arr[1] = 7;
      expect(Array.from(t.toFloat32Array())).to.deep.equal([1.5, -2, 3]);
      const f64 = Float64Array.of(0.1, 0.2);
      const t2 = Tensor.from(f64, [2, 1]);
      f64[0] = 9;
      expect(Array.from(t2.toFloat32Array())).to.deep.equal([Math.fround(0.1), Math.fround(0.2)]);
    });

    it('copies the shape array too', function () {
      const shape = [2, 3];
      const t = Tensor.from(new Float32Array(6), shape);
      shape[0] = 3;
      shape.push(4);
      expect(t.shape).to.deep.equal([2, 3]);
      const s = t.shape;
      s[0] = 99;
      expect(t.shape, 'the shape getter returns a copy').to.deep.equal([2, 3]);
    });

    it('stores float32: values are rounded like Math.fround', function () {
      const t = Tensor.from([0.1, 1 / 3, 1e40, -1e-50], [4]);
      expect(Array.from(t.toFloat32Array())).to.deep.equal([Math.fround(0.1), Math.fround(1 / 3), Infinity, -0]);
    });
  });

  describe('shape, size, rank', function () {
    const cases: { shape: number[]; size: number }[] = [
      { shape: [], size: 1 },
      { shape: [5], size: 5 },
      { shape: [2, 3], size: 6 },
      { shape: [2, 3, 4, 1, 2], size: 48 },
      { shape: [3, 0, 2], size: 0 },
    ];
    for (const c of cases) {
      it(`[${c.shape.join(', ')}] has size ${c.size} and rank ${c.shape.length}`, function () {
        const t = Tensor.from(new Float32Array(c.size), c.shape);
        expect(t.shape).to.deep.equal(c.shape);
        expect(t.size).to.equal(c.size);
        expect(t.rank).to.equal(c.shape.length);
        expect(t.toFloat32Array().length).to.equal(c.size);
      });
    }
  });

  it('toFloat32Array returns a copy each time', function () {
    const t = Tensor.from([1, 2, 3], [3]);
    const a = t.toFloat32Array();
    a[0] = 42;
    a.fill(0);
    expect(Array.from(t.toFloat32Array())).to.deep.equal([1, 2, 3]);
    expect(t.toFloat32Array()).to.not.equal(t.toFloat32Array());
  });

  it('Tensor.zeros gives zeros of the shape', function () {
    const t = Tensor.zeros([2, 3, 4]);
    expect(t.shape).to.deep.equal([2, 3, 4]);
    expect(t.size).to.equal(24);
    const d = t.toFloat32Array();
    expect(d.length).to.equal(24);
    expect(d.every((v) => Object.is(v, 0))).to.equal(true);
    expect(Tensor.zeros([]).size).to.equal(1);
    expect(Tensor.zeros([0]).size).to.equal(0);
    expect(Tensor.zeros([3], { device: 'cpu' }).device).to.equal('cpu');
  });

  describe('reshape', function () {
    it('keeps the data (row-major) under a new shape of the same size', function () {
      const t = Tensor.from([1, 2, 3, 4, 5, 6], [2, 3]);
      const r = t.reshape([3, 2]);
      expect(r.shape).to.deep.equal([3, 2]);
      expect(Array.from(r.toFloat32Array())).to.deep.equal([1, 2, 3, 4, 5, 6]);
      expect(t.reshape([6]).rank).to.equal(1);
      expect(t.reshape([1, 6, 1]).shape).to.deep.equal([1, 6, 1]);
      expect(t.shape, 'the original is unchanged').to.deep.equal([2, 3]);
    });
    it('a size mismatch is a RangeError naming the shape', function () {
      const t = Tensor.from([1, 2, 3, 4, 5, 6], [2, 3]);
      expect(() => t.reshape([4, 2])).to.throw(RangeError, /shape|\[4, 2\]/);
      expect(() => t.reshape([7])).to.throw(RangeError);
    });
    it('a bad shape is rejected', function () {
      const t = Tensor.from([1, 2], [2]);
      expect(() => t.reshape([-2, -1])).to.throw(RangeError, /shape/);
      expect(() => t.reshape('2' as unknown as number[])).to.throw(TypeError, /shape/);
    });
  });

  describe('dispose', function () {
    it('using a disposed tensor throws an Error with code ERR_TENSOR_DISPOSED', function () {
      const t = Tensor.from([1, 2, 3, 4], [2, 2]);
      expect(t.disposed).to.equal(false);
      t.dispose();
      expect(t.disposed).to.equal(true);
      const uses: [string, () => unknown][] = [
        ['toFloat32Array', () => t.toFloat32Array()],
        ['toArray', () => t.toArray()],
        ['reshape', () => t.reshape([4])],
        ['clone', () => t.clone()],
      ];
      for (const [what, fn] of uses) {
        const e = thrown(fn);
        expect(e.code, `${what}: code`).to.equal('ERR_TENSOR_DISPOSED');
        expect(e.code).to.equal(ErrorCodes.DISPOSED);
        expect(e, what).to.be.instanceOf(SpikelayersError);
        expect(e.message, `${what}: message`).to.match(/dispos/i);
      }
    });

    it('a disposed tensor passed to a layer is rejected with ERR_TENSOR_DISPOSED', function () {
      const layer = new LIF({ tauMem: 10 });
      const x = Tensor.from(new Float32Array(6).fill(2), [1, 3, 2]);
      x.dispose();
      const e = thrown(() => layer.forward(x));
      expect(e.code).to.equal('ERR_TENSOR_DISPOSED');
      expect(layer.shape, 'the layer is untouched').to.equal(null);
      // and as a gradient
      const x2 = Tensor.from(new Float32Array(6).fill(2), [1, 3, 2]);
      layer.forward(x2);
      const g = Tensor.from(new Float32Array(6).fill(1), [1, 3, 2]);
      g.dispose();
      expect(thrown(() => layer.backward(g)).code).to.equal('ERR_TENSOR_DISPOSED');
    });

    it('disposing twice is harmless', function () {
      const t = Tensor.zeros([3]);
      t.dispose();
      expect(() => t.dispose()).to.not.throw();
      expect(t.disposed).to.equal(true);
      expect(thrown(() => t.toFloat32Array()).code).to.equal('ERR_TENSOR_DISPOSED');
    });

    it('disposing a copy does not affect the original', function () {
      const t = Tensor.from([1, 2], [2]);
      const c = t.clone();
      const r = t.reshape([1, 2]);
      c.dispose();
      r.dispose();
      expect(Array.from(t.toFloat32Array())).to.deep.equal([1, 2]);
    });
  });

  describe('bad shapes and data', function () {
    const bad: { shape: unknown; err: typeof RangeError | typeof TypeError; why: string }[] = [
      { shape: [2, -1], err: RangeError, why: 'negative' },
      { shape: [-3], err: RangeError, why: 'negative' },
      { shape: [2.5, 2], err: RangeError, why: 'non-integer' },
      { shape: [NaN], err: RangeError, why: 'NaN' },
      { shape: [Infinity], err: RangeError, why: 'infinite' },
      { shape: [2, '3'], err: TypeError, why: 'a string element' },
      { shape: [null], err: TypeError, why: 'a null element' },
      { shape: '2,3', err: TypeError, why: 'a string' },
      { shape: 6, err: TypeError, why: 'a number' },
      { shape: undefined, err: TypeError, why: 'missing' },
      { shape: { length: 1, 0: 2 }, err: TypeError, why: 'an array-like object' },
    ];
    for (const b of bad) {
      it(`Tensor.from / Tensor.zeros, shape ${b.why}: ${b.err.name} naming 'shape'`, function () {
        const e1 = thrown(() => Tensor.from([1, 2, 3, 4, 5, 6], b.shape as number[]));
        expect(e1, `from: ${e1.message}`).to.be.instanceOf(b.err);
        expect(e1.message).to.match(/shape/);
        const e2 = thrown(() => Tensor.zeros(b.shape as number[]));
        expect(e2, `zeros: ${e2.message}`).to.be.instanceOf(b.err);
        expect(e2.message).to.match(/shape/);
      });
    }

    it('a data length that does not match the shape is a RangeError giving both sizes', function () {
      const e = thrown(() => Tensor.from([1, 2, 3, 4, 5], [2, 3]));
      expect(e).to.be.instanceOf(RangeError);
      expect(e.message).to.match(/5/).and.to.match(/6/);
      expect(() => Tensor.from(new Float32Array(7), [2, 3])).to.throw(RangeError);
      expect(() => Tensor.from([], [1])).to.throw(RangeError);
      expect(() => Tensor.from([1], [])).to.not.throw();
    });

    it('non-numeric data is a TypeError naming the data', function () {
      expect(() => Tensor.from(['a', 'b'] as unknown as number[], [2])).to.throw(TypeError, /data/);
      expect(() => Tensor.from('ab' as unknown as number[], [2])).to.throw(TypeError, /data/);
      expect(() => Tensor.from(null as unknown as number[], [2])).to.throw(TypeError, /data/);
    });
  });

  describe('devices', function () {
    it("device 'cpu' is accepted and reported", function () {
      const t = Tensor.from([1, 2], [2], { device: 'cpu' });
      expect(t.device).to.equal('cpu');
      expect(Array.from(t.toFloat32Array())).to.deep.equal([1, 2]);
      expect(Tensor.zeros([2], { device: 'cpu' }).device).to.equal('cpu');
      expect(t.to('cpu').device).to.equal('cpu');
    });

    for (const dev of ['cuda', 'cuda:0']) {
      it(`device '${dev}' throws an Error with a code and a message saying why`, function () {
        const info = backendInfo();
        for (const fn of [
          () => Tensor.from([1, 2], [2], { device: dev }),
          () => Tensor.zeros([2], { device: dev }),
          () => Tensor.from([1, 2], [2]).to(dev),
        ]) {
          const e = thrown(fn);
          expect(e, e.message).to.not.be.instanceOf(RangeError);
          expect(e, e.message).to.not.be.instanceOf(TypeError);
          expect(e.code, `code of "${e.message}"`).to.be.a('string').and.to.match(/^ERR_/);
          expect(e.message).to.include(`'${dev}'`);
          // the message states the reason: the backend's own reason when CUDA is unavailable
          if (!info.cuda.available && info.cuda.reason) {
            expect(e.message).to.include(info.cuda.reason);
            if (info.cuda.code) expect(e.code).to.equal(info.cuda.code);
          }
          expect(e.message.length, 'a reason follows the device name').to.be.greaterThan(
            `device '${dev}' cannot be used: `.length + 10,
          );
        }
      });
    }

    it("on a machine without a usable GPU, backendInfo says so and 'cuda' fails for that reason", function () {
      const info = backendInfo();
      if (info.cuda.available) {
        console.log('      skipped: CUDA is available on this machine, the no-GPU reason cannot be checked');
        this.skip();
      }
      expect(info.cuda.reason, 'a reason is given').to.be.a('string').and.to.have.length.greaterThan(5);
      expect(info.cuda.code, 'a code is given').to.match(/^ERR_/);
      const e = thrown(() => Tensor.zeros([1], { device: 'cuda' }));
      expect(e.code).to.equal(info.cuda.code);
      expect(info.devices).to.deep.equal(['cpu']);
    });

    for (const dev of ['tpu', 'gpu']) {
      it(`device '${dev}' is a RangeError naming the device`, function () {
        const e = thrown(() => Tensor.from([1], [1], { device: dev }));
        expect(e).to.be.instanceOf(RangeError);
        expect(e.message).to.include(`'${dev}'`);
        expect(e.message).to.match(/device/);
      });
    }

    it('a non-string device is a TypeError', function () {
      expect(() => Tensor.from([1], [1], { device: 0 as unknown as string })).to.throw(TypeError, /device/);
    });
  });
});
