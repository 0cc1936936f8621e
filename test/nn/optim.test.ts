// SGD, Adam, AdamW and clipGradNorm against float64 references of PyTorch's update formulas
// (test/support/reference.ts) over several steps; stateDict/loadStateDict resume bit-identically;
// the emulated CUDA launch and thread counts give identical bits; host LIF parameters; bad input.
import { expect } from 'chai';
import {
  Adam,
  AdamW,
  LIF,
  SGD,
  Tensor,
  clipGradNorm,
  getNumThreads,
  setNumThreads,
  type Optimizer,
} from '../../lib/index.js';
import { _setCudaLaunchEmulation, native } from '../../lib/backend.js';
import { uniform, uniformNumbers } from '../support/random.js';
import { adamRef, maxAbs, maxAbsDiff, sgdRef } from '../support/reference.js';

const STEPS = 6;
const N = 37;

function param(seed: number, n = N): Tensor {
  const p = Tensor.from(uniform(seed, n, -1, 1), [n]);
  p.requiresGrad = true;
  return p;
}
/** The gradient of step s (fresh seeded values, so the momentum terms matter). */
const gradAt = (s: number, n = N) => uniformNumbers(100 + s, n, -2, 2);
const f32 = (a: number[]) => Array.from(Float32Array.from(a));

/** Runs `steps` steps of `opt` on `p` with gradients gradAt(first..). */
function run(opt: Optimizer, ps: Tensor[], steps: number, first = 0): void {
  for (let s = first; s < first + steps; ++s) {
    ps.forEach((p, j) => (p.grad = Tensor.from(gradAt(s + 10 * j, p.size), p.shape)));
    opt.step();
  }
}

const SGD_CASES = [
  { lr: 0.1 },
  { lr: 0.05, momentum: 0.9 },
  { lr: 0.05, momentum: 0.9, dampening: 0.3, weightDecay: 0.01 },
  { lr: 0.02, momentum: 0.8, nesterov: true, weightDecay: 0.1 },
];

describe('optimizers: SGD', () => {
  for (const o of SGD_CASES) {
    it(`matches PyTorch's formulas over ${STEPS} steps: ${JSON.stringify(o)}`, () => {
      const p = param(1);
      let ref = { p: p.toArray(), buf: undefined as number[] | undefined };
      const opt = new SGD([p], o);
      for (let s = 0; s < STEPS; ++s) {
        const g = f32(gradAt(s));
        p.grad = Tensor.from(g, [N]);
        opt.step();
        ref = sgdRef(ref.p, g, ref.buf, o);
        expect(maxAbsDiff(p.toFloat32Array(), ref.p), `step ${s}`).to.be.at.most(2e-6 * Math.max(1, maxAbs(ref.p)));
      }
    });
  }
});

const ADAM_CASES: { cls: typeof Adam | typeof AdamW; o: Record<string, number | number[]> }[] = [
  { cls: Adam, o: {} },
  { cls: Adam, o: { lr: 0.01, betas: [0.8, 0.99], eps: 1e-6, weightDecay: 0.05 } },
  { cls: Adam, o: { lr: 0.1, beta2: 0.9, min: -0.5 } },
  { cls: AdamW, o: {} },
  { cls: AdamW, o: { lr: 0.01, beta1: 0.5, weightDecay: 0.1 } },
];

describe('optimizers: Adam / AdamW', () => {
  for (const { cls, o } of ADAM_CASES) {
    it(`${cls.name} matches PyTorch's formulas over ${STEPS} steps: ${JSON.stringify(o)}`, () => {
      const p = param(2);
      const opt = new cls([p], o);
      const decoupled = cls === AdamW;
      const betas = o.betas as number[] | undefined;
      const h = {
        lr: (o.lr as number) ?? 1e-3,
        beta1: betas?.[0] ?? (o.beta1 as number) ?? 0.9,
        beta2: betas?.[1] ?? (o.beta2 as number) ?? 0.999,
        eps: (o.eps as number) ?? 1e-8,
        weightDecay: (o.weightDecay as number) ?? (decoupled ? 0.01 : 0),
        decoupled,
        min: o.min as number | undefined,
      };
      let ref = { p: p.toArray(), m: new Array<number>(N).fill(0), v: new Array<number>(N).fill(0) };
      for (let s = 0; s < STEPS; ++s) {
        const g = f32(gradAt(s));
        p.grad = Tensor.from(g, [N]);
        opt.step();
        ref = adamRef(ref.p, g, ref.m, ref.v, s + 1, h);
        // an Adam step moves each element by about lr: compare relative to lr and |p|
        expect(maxAbsDiff(p.toFloat32Array(), ref.p), `step ${s}`).to.be.at.most(
          1e-6 * Math.max(1, maxAbs(ref.p)) + 1e-4 * h.lr,
        );
      }
      if (h.min !== undefined) expect(Math.min(...p.toArray())).to.be.at.least(h.min);
      const st = opt.stateDict().state[0]!;
      expect(st.step).to.equal(STEPS);
      expect(maxAbsDiff((st.expAvg as Tensor).toFloat32Array(), ref.m)).to.be.at.most(1e-6 * maxAbs(ref.m));
      expect(maxAbsDiff((st.expAvgSq as Tensor).toFloat32Array(), ref.v)).to.be.at.most(1e-6 * maxAbs(ref.v));
    });
  }

  it('keeps the step count per parameter (a parameter without a gradient is skipped)', () => {
    const a = param(3),
      b = param(4);
    const opt = new Adam([a, b], { lr: 0.01 });
    a.grad = Tensor.from(gradAt(0), [N]);
    opt.step();
    const bBefore = b.toArray();
    b.grad = Tensor.from(gradAt(1), [N]);
    opt.step();
    const st = opt.stateDict().state;
    expect(st[0]!.step).to.equal(2);
    expect(st[1]!.step).to.equal(1);
    // b's first step is a bias-corrected first step: |delta| = lr * |g| / (|g| + eps) ~ lr
    const d = b.toArray().map((v, k) => Math.abs(v - bBefore[k]!));
    for (const x of d) expect(x).to.be.closeTo(0.01, 1e-5);
  });
});

describe('optimizers: state dicts, zeroGrad, host layers', () => {
  const makers: [string, (ps: Tensor[]) => Optimizer][] = [
    ['SGD momentum', (ps) => new SGD(ps, { lr: 0.05, momentum: 0.9, nesterov: true })],
    ['Adam', (ps) => new Adam(ps, { lr: 0.01, weightDecay: 0.01 })],
    ['AdamW', (ps) => new AdamW(ps, { lr: 0.01 })],
  ];
  for (const [name, make] of makers) {
    it(`${name}: stateDict()/loadStateDict() resume bit-identically`, () => {
      const ps = [param(5), param(6, 12)];
      const straight = make(ps);
      run(straight, ps, 3);
      const saved = straight.stateDict();
      const savedParams = ps.map((p) => p.toFloat32Array());
      run(straight, ps, 3, 3);
      const expected = ps.map((p) => p.toArray());
      // a fresh optimizer on parameters restored to the saved values
      const qs = savedParams.map((d, j) => {
        const q = Tensor.from(d, ps[j]!.shape);
        q.requiresGrad = true;
        return q;
      });
      const resumed = make(qs);
      resumed.loadStateDict(saved);
      run(resumed, qs, 3, 3);
      expect(qs.map((q) => q.toArray())).to.deep.equal(expected);
      // the saved dict holds copies: stepping did not change it
      const again = make(
        savedParams.map((d, j) => Object.assign(Tensor.from(d, ps[j]!.shape), { requiresGrad: true })),
      );
      again.loadStateDict(saved);
      expect(JSON.stringify(again.stateDict().paramGroups)).to.equal(JSON.stringify(saved.paramGroups));
    });
  }

  it('loadStateDict rejects bad dicts and changes nothing', () => {
    const p = param(7);
    const opt = new Adam([p], { lr: 0.01 });
    run(opt, [p], 2);
    const good = opt.stateDict();
    const bad1 = { ...good, state: { 0: { ...good.state[0]!, expAvg: Tensor.zeros([N + 1]) } } };
    expect(() => opt.loadStateDict(bad1)).to.throw(RangeError, /state\.0\.expAvg.*shape/);
    expect(() => opt.loadStateDict({ ...good, state: { 3: good.state[0]! } })).to.throw(RangeError, /state key '3'/);
    expect(() => opt.loadStateDict({ ...good, state: { 0: { step: 2, expAvg: good.state[0]!.expAvg! } } })).to.throw(
      TypeError,
      /state\.0\.expAvgSq/,
    );
    expect(() => opt.loadStateDict({ ...good, paramGroups: [{ ...good.paramGroups[0]!, lr: -1 }] })).to.throw(
      RangeError,
      /lr/,
    );
    expect(() => opt.loadStateDict({ ...good, paramGroups: [{ ...good.paramGroups[0]!, params: [] }] })).to.throw(
      RangeError,
      /params/,
    );
    expect(() => opt.loadStateDict(null as never)).to.throw(TypeError);
    const after = opt.stateDict();
    expect(after.state[0]!.step).to.equal(2);
    expect((after.state[0]!.expAvg as Tensor).toArray()).to.deep.equal((good.state[0]!.expAvg as Tensor).toArray());
    expect(opt.lr).to.equal(0.01);
  });

  it('zeroGrad drops the gradients (PyTorch default) or zeros them with { setToNone: false }', () => {
    const p = param(8);
    const opt = new SGD([p], { lr: 0.1 });
    p.grad = Tensor.from(gradAt(0), [N]);
    const g = p.grad;
    opt.zeroGrad({ setToNone: false });
    expect(p.grad).to.equal(g);
    expect(maxAbs(g.toFloat32Array())).to.equal(0);
    opt.zeroGrad();
    expect(p.grad).to.equal(null);
    expect(() => opt.zeroGrad({ setToNone: 1 } as never)).to.throw(TypeError, /setToNone/);
    expect(() => opt.zeroGrad({ set_to_none: false } as never)).to.throw(TypeError, /unknown option/);
  });

  it('trains a host LIF parameter (tauMem) with its host gradient, as examples/train-taus.ts does', () => {
    const lif = new LIF({ tauMem: Tensor.full([4], 10) });
    const opt = new Adam([lif.tauMem!], { lr: 0.5, beta2: 0.9, min: 1.5 });
    const before = lif.tauMem!.toArray();
    const x = Tensor.from(uniform(9, 2 * 20 * 4, 0, 1.5), [2, 20, 4]);
    const out = lif.forward(x);
    lif.backward(Tensor.from(new Float32Array(out.size).fill(1), out.shape));
    expect(lif.tauMem!.grad).to.not.equal(null);
    opt.step();
    const after = lif.tauMem!.toArray();
    const g = lif.tauMem!.grad!.toArray();
    after.forEach((v, k) => {
      if (g[k] !== 0) expect(Math.abs(v - before[k]!)).to.be.closeTo(0.5, 1e-4); // first Adam step ~ lr
      expect(v).to.be.at.least(1.5);
    });
    opt.zeroGrad();
    expect(lif.tauMem!.grad).to.equal(null);
  });
});

describe('optimizers: clipGradNorm', () => {
  it('returns the total L2 norm and scales by maxNorm / (norm + 1e-6) when above maxNorm', () => {
    const a = param(10),
      b = param(11, 5),
      c = param(12, 3);
    a.grad = Tensor.from(gradAt(0), [N]);
    b.grad = Tensor.from(gradAt(1, 5), [5]);
    const ga = a.grad.toArray(),
      gb = b.grad.toArray();
    const ref = Math.sqrt([...ga, ...gb].reduce((s, v) => s + v * v, 0));
    const norm = clipGradNorm([a, b, c], 1);
    expect(norm).to.be.closeTo(ref, 1e-12 * ref);
    const coef = 1 / (ref + 1e-6);
    expect(
      maxAbsDiff(
        a.grad.toFloat32Array(),
        ga.map((v) => v * coef),
      ),
    ).to.be.at.most(1e-7);
    expect(
      maxAbsDiff(
        b.grad.toFloat32Array(),
        gb.map((v) => v * coef),
      ),
    ).to.be.at.most(1e-7);
    expect(c.grad).to.equal(null);
    // now the norm is just below 1: unchanged
    const now = a.grad.toArray();
    const n2 = clipGradNorm([a, b], 2);
    expect(n2).to.be.closeTo(1, 1e-5);
    expect(a.grad.toArray()).to.deep.equal(now);
  });

  it('bad input', () => {
    expect(() => clipGradNorm([param(1)], -1)).to.throw(RangeError, /maxNorm/);
    expect(() => clipGradNorm([param(1)], NaN)).to.throw(RangeError, /maxNorm/);
    expect(() => clipGradNorm('x' as never, 1)).to.throw(TypeError, /params/);
    expect(() => clipGradNorm([1] as never, 1)).to.throw(TypeError, /params\[0\]/);
  });
});

describe('optimizers: emulated launch and thread counts', () => {
  it('SGD, Adam, AdamW and clipGradNorm give identical bits for 1/2/3 threads and through the emulated CUDA launch', () => {
    const n = 50_001;
    const go = () => {
      const out: number[] = [];
      for (const make of [
        (ps: Tensor[]) => new SGD(ps, { lr: 0.05, momentum: 0.9, dampening: 0.1, weightDecay: 0.01 }),
        (ps: Tensor[]) => new Adam(ps, { lr: 0.01, weightDecay: 0.01 }),
        (ps: Tensor[]) => new AdamW(ps, { lr: 0.01 }),
      ]) {
        const p = param(13, n);
        const opt = make([p]);
        for (let s = 0; s < 3; ++s) {
          p.grad = Tensor.from(gradAt(s, n), [n]);
          out.push(clipGradNorm([p], 50));
          opt.step();
        }
        out.push(...p.toFloat32Array());
      }
      return out;
    };
    const before = getNumThreads();
    try {
      setNumThreads(1);
      const base = go();
      setNumThreads(2);
      expect(go()).to.deep.equal(base);
      setNumThreads(3);
      expect(go()).to.deep.equal(base);
      _setCudaLaunchEmulation(true);
      expect(go()).to.deep.equal(base);
    } finally {
      _setCudaLaunchEmulation(false);
      setNumThreads(before);
    }
  });
});

describe('optimizers: bad input', () => {
  it('options and parameters: errors name the argument', () => {
    const p = param(1);
    expect(() => new SGD([p], {} as never)).to.throw(TypeError, /lr/);
    expect(() => new SGD([p], { lr: -1 })).to.throw(RangeError, /lr/);
    expect(() => new SGD([p], { lr: 0.1, momentum: -0.1 })).to.throw(RangeError, /momentum/);
    expect(() => new SGD([p], { lr: 0.1, nesterov: true })).to.throw(RangeError, /nesterov/);
    expect(() => new SGD([p], { lr: 0.1, weight_decay: 0.1 } as never)).to.throw(
      TypeError,
      /did you mean 'weightDecay'/,
    );
    expect(() => new Adam([p], { betas: [0.9, 1] })).to.throw(RangeError, /betas\[1\]/);
    expect(() => new Adam([p], { beta1: 1.5 })).to.throw(RangeError, /beta1/);
    expect(() => new Adam([p], { betas: [0.9, 0.99], beta1: 0.9 })).to.throw(TypeError, /either betas/);
    expect(() => new AdamW([p], { eps: 0 })).to.throw(RangeError, /eps/);
    expect(() => new AdamW([p], { min: NaN })).to.throw(RangeError, /min/);
    expect(() => new Adam('p' as never)).to.throw(TypeError, /params/);
    expect(() => new Adam([p, p])).to.throw(RangeError, /params\[1\] appears more than once/);
  });

  it('a gradient of the wrong shape: RangeError naming the parameter, nothing updated', () => {
    const a = param(1),
      b = param(2);
    const opt = new Adam([a, b], { lr: 0.1 });
    a.grad = Tensor.from(gradAt(0), [N]);
    b.grad = Tensor.zeros([N + 1]);
    const before = [a.toArray(), b.toArray()];
    expect(() => opt.step()).to.throw(RangeError, /parameter 1/);
    expect([a.toArray(), b.toArray()]).to.deep.equal(before);
    expect(opt.stateDict().state).to.deep.equal({});
  });

  it('the native updates re-check every length', () => {
    const n = native();
    const base = { n: 4, p: new Float32Array(4), g: new Float32Array(4), lr: 0.1, weightDecay: 0, hasMin: false };
    expect(() =>
      n.sgdStep({ ...base, g: new Float32Array(3), momentum: 0, dampening: 0, nesterov: false, first: true }),
    ).to.throw(RangeError, /'g'/);
    expect(() => n.sgdStep({ ...base, momentum: 0.9, dampening: 0, nesterov: false, first: true })).to.throw(
      TypeError,
      /'buf'/,
    );
    expect(() =>
      n.adamStep({
        ...base,
        m: new Float32Array(4),
        v: new Float32Array(2),
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        step: 1,
        decoupled: false,
      }),
    ).to.throw(RangeError, /'v'/);
    expect(() =>
      n.adamStep({
        ...base,
        m: new Float32Array(4),
        v: new Float32Array(4),
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        step: 0,
        decoupled: false,
      }),
    ).to.throw(RangeError, /'step'/);
    expect(() => n.scaleInPlace({ n: 5, x: new Float32Array(4), s: 2 })).to.throw(RangeError, /'x'/);
    expect(() => n.sumSquares({ n: 5, x: new Float32Array(4) })).to.throw(RangeError, /'x'/);
  });
});
