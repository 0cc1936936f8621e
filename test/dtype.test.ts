// Tensor dtypes: the float32 <-> float16 / bfloat16 conversions against bit-level references
// written here (the value of every bit pattern from the format's definition in float64, and
// round-to-nearest-even by comparing the two neighbouring representable values), exhaustive over
// all 65536 patterns; Tensor.from / to / toFloat32Array / clone / reshape with each dtype; and the
// refusal of non-float32 tensors by the layers and ops that compute in float32.
import { expect } from 'chai';
import {
  AvgPool2d,
  Conv2d,
  DTYPES,
  Flatten,
  Linear,
  SGD,
  Sequential,
  SumPool2d,
  Tensor,
  bfloat16BitsToFloat32,
  clipGradNorm,
  crossEntropyLoss,
  float16BitsToFloat32,
  float32ToBfloat16Bits,
  float32ToFloat16Bits,
  itemSize,
  mseLoss,
} from '../lib/index.js';

const f32buf = new Float32Array(1);
const u32buf = new Uint32Array(f32buf.buffer);
const fromBits = (b: number): number => ((u32buf[0] = b >>> 0), f32buf[0]!);
const bitsOf = (x: number): number => ((f32buf[0] = x), u32buf[0]!);

/** The value of a half from the IEEE 754 definition (float64 arithmetic, exact). */
function halfValue(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0x1f) return m === 0 ? s * Infinity : NaN;
  if (e === 0) return s * m * 2 ** -24;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** The value of a bfloat16 from its definition (1-8-7 bits, bias 127). */
function bf16Value(b: number): number {
  const s = b & 0x8000 ? -1 : 1;
  const e = (b >> 7) & 0xff;
  const m = b & 0x7f;
  if (e === 0xff) return m === 0 ? s * Infinity : NaN;
  if (e === 0) return s * (m / 128) * 2 ** -126;
  return s * (1 + m / 128) * 2 ** (e - 127);
}

/**
 * Round to nearest, ties to even, onto a format whose non-negative finite patterns 0..maxBits
 * are increasing in value (`value`), with overflow at the pattern after maxBits: the first value
 * past the largest is taken as the next step of the same binade (so that the ties and the
 * overflow threshold follow IEEE's unbounded-exponent rule). Differences are exact in float64
 * (Sterbenz, or multiples of the smaller ulp below 2^-24).
 */
function nearestEven(x: number, value: (b: number) => number, maxBits: number, infBits: number): number {
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  const v = (b: number): number => (b === infBits ? 2 * value(maxBits) - value(maxBits - 1) : value(b));
  if (a >= v(infBits)) return sign | infBits;
  let lo = 0,
    hi = infBits; // value(lo) <= a < v(hi)
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (v(mid) <= a) lo = mid;
    else hi = mid;
  }
  const dl = a - v(lo),
    dh = v(hi) - a;
  if (dl < dh) return sign | lo;
  if (dh < dl) return sign | hi;
  return sign | (lo % 2 === 0 ? lo : hi);
}

const halfRef = (x: number): number => nearestEven(x, halfValue, 0x7bff, 0x7c00);
const bf16Ref = (x: number): number => nearestEven(x, bf16Value, 0x7f7f, 0x7f80);

/** A deterministic stream of 32-bit patterns (xorshift32). */
function* patterns(n: number, seed = 0x2545f491): Generator<number> {
  let s = seed >>> 0;
  for (let k = 0; k < n; ++k) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    yield s;
  }
}

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  expect.fail('expected an exception');
}

describe('dtypes', function () {
  describe('float16', function () {
    it('every one of the 65536 patterns decodes to its IEEE value and encodes back to itself', function () {
      for (let h = 0; h < 65536; ++h) {
        const v = float16BitsToFloat32(h);
        const ref = halfValue(h);
        if (Number.isNaN(ref)) {
          expect(Number.isNaN(v), `0x${h.toString(16)}`).to.equal(true);
          // a NaN keeps its sign and payload; encoding makes it quiet (bit 9)
          expect(float32ToFloat16Bits(v), `0x${h.toString(16)}`).to.equal(h | 0x200);
        } else {
          expect(Object.is(v, ref), `0x${h.toString(16)}: ${v} vs ${ref}`).to.equal(true);
          expect(float32ToFloat16Bits(v)).to.equal(h);
        }
      }
    });

    it('known patterns: 1, -2, 65504, the smallest normal and subnormal, ±0, ±Inf', function () {
      const cases: [number, number][] = [
        [1, 0x3c00],
        [-2, 0xc000],
        [65504, 0x7bff],
        [2 ** -14, 0x0400],
        [2 ** -24, 0x0001],
        [0, 0x0000],
        [-0, 0x8000],
        [Infinity, 0x7c00],
        [-Infinity, 0xfc00],
        [1 / 3, 0x3555],
        [65519.99, 0x7bff], // below the overflow threshold 65520
        [65520, 0x7c00], // the tie between 65504 and 2^16 goes to the even pattern: Infinity
        [2 ** -25, 0x0000], // a tie between 0 and the smallest subnormal: to 0 (even)
        [1.5 * 2 ** -25, 0x0001],
      ];
      for (const [x, h] of cases) expect(float32ToFloat16Bits(x), String(x)).to.equal(h);
    });

    it('ties go to even and neighbours of the ties to the nearest, over every pair of adjacent halves', function () {
      for (let h = 0; h < 0x7c00; ++h) {
        const next = h + 1 === 0x7c00 ? 65536 : halfValue(h + 1); // past 65504: the overflow threshold
        const mid = (halfValue(h) + next) / 2; // exact in float32 (12 significant bits)
        expect(Math.fround(mid)).to.equal(mid);
        const even = h % 2 === 0 ? h : h + 1;
        expect(float32ToFloat16Bits(mid), `tie above 0x${h.toString(16)}`).to.equal(even);
        expect(float32ToFloat16Bits(-mid)).to.equal(even | 0x8000);
        const below = fromBits(bitsOf(mid) - 1),
          above = fromBits(bitsOf(mid) + 1);
        if (mid !== 0) expect(float32ToFloat16Bits(below), `below the tie above 0x${h.toString(16)}`).to.equal(h);
        expect(float32ToFloat16Bits(above), `above the tie above 0x${h.toString(16)}`).to.equal(h + 1);
      }
    });

    it('200000 random float32 patterns round as the reference does', function () {
      for (const p of patterns(200000)) {
        const x = fromBits(p);
        const got = float32ToFloat16Bits(x);
        if (Number.isNaN(x)) {
          expect(Number.isNaN(halfValue(got))).to.equal(true);
          expect(got & 0x8000).to.equal((p >>> 16) & 0x8000);
          continue;
        }
        expect(got, `0x${p.toString(16)}`).to.equal(halfRef(x));
      }
    });
  });

  describe('bfloat16', function () {
    it('every one of the 65536 patterns decodes to its value and encodes back to itself', function () {
      for (let b = 0; b < 65536; ++b) {
        const v = bfloat16BitsToFloat32(b);
        const ref = bf16Value(b);
        if (Number.isNaN(ref)) {
          expect(Number.isNaN(v)).to.equal(true);
          expect(float32ToBfloat16Bits(v)).to.equal(b | 0x40);
        } else {
          expect(Object.is(v, ref), `0x${b.toString(16)}`).to.equal(true);
          expect(float32ToBfloat16Bits(v)).to.equal(b);
        }
      }
    });

    it('ties between adjacent bfloat16 values go to even, including subnormals and the overflow', function () {
      for (let b = 0; b < 0x7f80; b += 7) {
        const lo = bf16Value(b);
        const hi = b + 1 === 0x7f80 ? 2 ** 128 : bf16Value(b + 1);
        const mid = (lo + hi) / 2;
        if (!Number.isFinite(Math.fround(mid))) continue;
        const even = b % 2 === 0 ? b : b + 1;
        expect(float32ToBfloat16Bits(mid), `tie above 0x${b.toString(16)}`).to.equal(even);
      }
      expect(float32ToBfloat16Bits(3.4028234663852886e38)).to.equal(0x7f80); // max float32 rounds up to Inf
      expect(float32ToBfloat16Bits(1)).to.equal(0x3f80);
      expect(float32ToBfloat16Bits(-0)).to.equal(0x8000);
    });

    it('200000 random float32 patterns round as the reference does', function () {
      for (const p of patterns(200000, 0x9e3779b9)) {
        const x = fromBits(p);
        const got = float32ToBfloat16Bits(x);
        if (Number.isNaN(x)) {
          expect(Number.isNaN(bf16Value(got))).to.equal(true);
          continue;
        }
        expect(got, `0x${p.toString(16)}`).to.equal(bf16Ref(x));
      }
    });
  });

  describe('Tensor with a dtype', function () {
    it('names, sizes and the float32 default', function () {
      expect(DTYPES).to.deep.equal(['float32', 'float16', 'bfloat16', 'uint8']);
      expect(DTYPES.map(itemSize)).to.deep.equal([4, 2, 2, 1]);
      const t = Tensor.from([1, 2, 3], [3]);
      expect(t.dtype).to.equal('float32');
      expect(t.nbytes).to.equal(12);
      expect(Tensor.zeros([2, 3], { dtype: 'bfloat16' }).nbytes).to.equal(12);
      expect(Tensor.zeros([5], { dtype: 'uint8' }).nbytes).to.equal(5);
    });

    it('float16 from bit patterns and from numbers; toFloat32Array gives the IEEE values', function () {
      const bits = Uint16Array.of(0x3c00, 0xc000, 0x0001, 0x7c00, 0x7bff);
      const t = Tensor.from(bits, [5], { dtype: 'float16' });
      bits[0] = 0; // copied
      expect(t.dtype).to.equal('float16');
      expect(Array.from(t.toFloat32Array())).to.deep.equal([1, -2, 2 ** -24, Infinity, 65504]);
      const xs = [0.1, -1 / 3, 1e-6, 70000, 1234.5678];
      const u = Tensor.from(xs, [5], { dtype: 'float16' });
      expect(Array.from(u.toFloat32Array())).to.deep.equal(xs.map((x) => halfValue(halfRef(Math.fround(x)))));
      // numbers and a float32 tensor converted with .to() agree
      const v = Tensor.from(xs, [5]).to('float16');
      expect(Array.from(v.toFloat32Array())).to.deep.equal(Array.from(u.toFloat32Array()));
      expect(String(u)).to.match(/dtype=float16/);
    });

    it('bfloat16 from numbers and back to float32', function () {
      const xs = [1, 1 + 2 ** -8, 1 + 3 * 2 ** -8, -3.14159, 1e-40];
      const t = Tensor.from(xs, [5], { dtype: 'bfloat16' });
      expect(Array.from(t.toFloat32Array())).to.deep.equal(xs.map((x) => bf16Value(bf16Ref(Math.fround(x)))));
      const f = t.to('float32');
      expect(f.dtype).to.equal('float32');
      expect(Array.from(f.toFloat32Array())).to.deep.equal(Array.from(t.toFloat32Array()));
    });

    it('uint8 from bytes and integers; anything else is a RangeError naming the element', function () {
      const t = Tensor.from(Uint8Array.of(0, 1, 255), [3], { dtype: 'uint8' });
      expect(Array.from(t.toFloat32Array())).to.deep.equal([0, 1, 255]);
      expect(Array.from(Tensor.from([3, 0, 200], [3], { dtype: 'uint8' }).toFloat32Array())).to.deep.equal([3, 0, 200]);
      for (const bad of [256, -1, 1.5, NaN, Infinity]) {
        const e = thrown(() => Tensor.from([0, bad], [2], { dtype: 'uint8' }));
        expect(e).to.be.instanceOf(RangeError);
        expect(e.message).to.match(/data\[1\]/);
      }
      const e = thrown(() => Tensor.from([0, 0.5, 2], [3]).to('uint8'));
      expect(e).to.be.instanceOf(RangeError);
      expect(e.message).to.match(/element 1 is 0\.5/);
      expect(Array.from(Tensor.from([7, 0], [2]).to('uint8').toFloat32Array())).to.deep.equal([7, 0]);
    });

    it('bad dtype options are TypeErrors naming the option; a length mismatch is a RangeError', function () {
      const e = thrown(() => Tensor.from([1], [1], { dtype: 'float64' as never }));
      expect(e).to.be.instanceOf(TypeError);
      expect(e.message).to.match(/opts\.dtype must be 'float32', 'float16', 'bfloat16', 'uint8'; got 'float64'/);
      expect(thrown(() => Tensor.zeros([1], { dtype: 3 as never }))).to.be.instanceOf(TypeError);
      const r = thrown(() => Tensor.from(Uint16Array.of(1, 2), [3], { dtype: 'float16' }));
      expect(r).to.be.instanceOf(RangeError);
      expect(r.message).to.match(/data has 2 elements but shape \[3\] needs 3/);
    });

    it('clone, reshape, to(cpu) copy the bits; dispose frees; _storage refuses a non-float32 tensor', function () {
      const t = Tensor.from(Uint16Array.of(0x3c00, 0x4000, 0x4200, 0x4400), [2, 2], { dtype: 'float16' });
      for (const c of [t.clone(), t.reshape([4]), t.to('cpu'), t.to('float16')]) {
        expect(c.dtype).to.equal('float16');
        expect(Array.from(c.toFloat32Array())).to.deep.equal([1, 2, 3, 4]);
        expect(c._hostData()).to.not.equal(t._hostData());
      }
      expect(t.reshape([4]).shape).to.deep.equal([4]);
      expect(thrown(() => t.reshape([3]))).to.be.instanceOf(RangeError);
      const e = thrown(() => t._storage());
      expect(e).to.be.instanceOf(TypeError);
      expect(e.message).to.match(/needs a float32 tensor, the tensor is float16/);
      t.dispose();
      expect(t.disposed).to.equal(true);
      expect(thrown(() => t.toFloat32Array()).message).to.match(/disposed/);
    });
  });

  describe('layers and ops that compute in float32 refuse other dtypes', function () {
    const half = (shape: number[]): Tensor => Tensor.zeros(shape, { dtype: 'float16' });
    const cases: [string, () => unknown, RegExp][] = [
      ['Linear', () => new Linear({ inFeatures: 4, outFeatures: 2 }).forward(half([3, 4])), /input/],
      [
        'Conv2d',
        () => new Conv2d({ inChannels: 1, outChannels: 1, kernelSize: 2 }).forward(half([1, 1, 4, 4])),
        /input/,
      ],
      ['AvgPool2d', () => new AvgPool2d({ kernelSize: 2 }).forward(half([1, 1, 4, 4])), /input/],
      ['SumPool2d', () => new SumPool2d({ kernelSize: 2 }).forward(half([1, 1, 4, 4])), /input/],
      ['Flatten', () => new Flatten().forward(half([2, 3, 4])), /input/],
      [
        'Sequential',
        () => new Sequential(new Linear({ inFeatures: 4, outFeatures: 2 })).forward(half([1, 4])),
        /input/,
      ],
      ['mseLoss', () => mseLoss(half([2]), Tensor.zeros([2])), /output/],
      ['crossEntropyLoss', () => crossEntropyLoss(half([1, 3]), [0]), /logits/],
      ['SGD', () => new SGD([half([3])], { lr: 0.1 }), /params\[0\]/],
      ['clipGradNorm', () => clipGradNorm([half([3])], 1), /params\[0\]/],
      [
        'loadStateDict',
        () =>
          new Linear({ inFeatures: 2, outFeatures: 1 }).loadStateDict({
            weight: half([1, 2]),
            bias: Tensor.zeros([1]),
          }),
        /'weight'/,
      ],
    ];
    for (const [name, fn, arg] of cases)
      it(`${name}: a TypeError naming the argument and the dtype`, function () {
        const e = thrown(fn);
        expect(e).to.be.instanceOf(TypeError);
        expect(e.message).to.match(arg);
        expect(e.message).to.match(/must be a float32 tensor, got a float16 tensor/);
      });
  });
});
