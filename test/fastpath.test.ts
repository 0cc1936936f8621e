// The CPU kernels' fast paths must not change a single bit:
//  * a threshold that is a power of two (the default 1) multiplies by its reciprocal instead of
//    dividing for the spike count; any other threshold divides;
//  * calls below a work threshold run on the calling thread without the OpenMP team, larger ones
//    on the team; the replay buffers are kept across calls and sized to each call.
// Every output (spikes, final membrane, input gradient, initial-state adjoint) is compared bit for
// bit with a float32 emulation of the step written here from the specification
// (docs/semantics.md §3.2, §7: every operation rounded to float32 with Math.fround, the spike
// count a true division) and across 1, 2 and 3 threads. The Heaviside surrogate keeps the
// backward free of the kernels' polynomial exp, so that the emulation can follow it exactly.
import { expect } from 'chai';
import { Heaviside, LIF, MaxSpike, MultiSpike, Tensor, getNumThreads, setNumThreads } from '../lib/index.js';
import { rng } from './support/random.js';

const f = Math.fround;
const FLT_MIN = 2 ** -126;

interface Case {
  theta: number;
  /** MaxSpike's limit, or Infinity (MultiSpike). */
  maxSpikes: number;
  tauSyn?: number;
}

const TAU_MEM = 20;
const WINDOW = 0.5;

function layerOf(c: Case): LIF {
  return new LIF({
    tauMem: TAU_MEM,
    normInput: false, // c = 1: the input goes into the membrane unscaled
    ...(c.tauSyn === undefined ? {} : { tauSyn: c.tauSyn }),
    spikeThreshold: c.theta,
    spikeFn: c.maxSpikes === Infinity ? MultiSpike : new MaxSpike({ maxNumSpikesPerBin: c.maxSpikes }),
    surrogateGradFn: new Heaviside({ window: WINDOW }),
  }).train();
}

/**
 * Inputs (B, T, N) in units of theta. The first step of every neuron starts from v = 0, so its
 * membrane is the input itself: those inputs sit on and next to the spike-count boundaries
 * k * theta (the floats just below and above), and include zeros, -0 and subnormals. Later
 * steps are uniform in [-0.5, 1.5) * theta (no overflow even for theta = 2^126).
 */
function inputs(c: Case, B: number, T: number, N: number, seed: number): Float32Array {
  const r = rng(seed);
  const x = new Float32Array(B * T * N);
  const below = (v: number): number => {
    const a = Float32Array.of(v);
    new Uint32Array(a.buffer)[0]! -= 1; // positive v: the next float down
    return a[0]!;
  };
  const special = (k: number): number => {
    const m = f((1 + (k % 3)) * c.theta);
    switch (k % 7) {
      case 0:
        return m;
      case 1:
        return below(m);
      case 2:
        return f(m * (1 + 2 ** -23));
      case 3:
        return k % 2 ? 0 : -0;
      case 4:
        return f(c.theta * 2 ** -140);
      case 5:
        return -m;
      default:
        return f(m * (0.5 + 0.5 * r()));
    }
  };
  for (let b = 0; b < B; ++b)
    for (let t = 0; t < T; ++t)
      for (let n = 0; n < N; ++n) x[(b * T + t) * N + n] = t === 0 ? special(b * N + n) : f((r() * 2 - 0.5) * c.theta);
  return x;
}

/** Float32 emulation of one forward call from zero state and its backward. */
function emulate(c: Case, B: number, T: number, N: number, x: Float32Array, g: Float32Array) {
  const am = f(Math.exp(-1 / f(TAU_MEM)));
  const as = c.tauSyn === undefined ? null : f(Math.exp(-1 / f(c.tauSyn)));
  const theta = f(c.theta);
  const p0 = f(theta - f(WINDOW)),
    p1 = f(1 / theta);
  const E = B * T * N;
  const out = new Float32Array(E),
    gx = new Float32Array(E),
    v1 = new Float32Array(B * N),
    gv0 = new Float32Array(B * N);
  const u = new Float64Array(E),
    vPrev = new Float64Array(E),
    pre = new Float64Array(E);
  for (let b = 0; b < B; ++b)
    for (let n = 0; n < N; ++n) {
      let v = 0,
        i = 0;
      for (let t = 0; t < T; ++t) {
        const q = (b * T + t) * N + n;
        let cur = x[q]!;
        if (as !== null) {
          pre[q] = f(i + x[q]!);
          cur = i = f(as * pre[q]!);
        }
        vPrev[q] = v;
        const uu = f(f(am * v) + cur); // c = 1: c * i is i itself
        u[q] = uu;
        const k = Math.trunc(f(uu / theta)); // a true division
        let s = uu > 0 ? k : 0 * k;
        if (s > c.maxSpikes) s = c.maxSpikes;
        out[q] = s;
        v = f(uu - f(s * theta));
      }
      v1[b * N + n] = v;
      let gv = 0,
        gi = 0;
      for (let t = T - 1; t >= 0; --t) {
        const q = (b * T + t) * N + n;
        const sg = u[q]! >= p0 ? p1 : 0;
        const A = f(1 - f(theta * sg));
        const gu = f(f(gv * A) + f(g[q]! * sg));
        const gvNext = f(am * gu);
        gv = Math.abs(gvNext) < FLT_MIN ? 0 : gvNext;
        if (as !== null) {
          const gin = f(gu + gi);
          gx[q] = f(as * gin);
          const giNext = f(as * gin);
          gi = Math.abs(giNext) < FLT_MIN ? 0 : giNext;
        } else gx[q] = gu;
      }
      gv0[b * N + n] = gv;
    }
  return { out, v1, gx };
}

/** Elements whose bits differ (two NaNs count as equal: JavaScript and C++ make different NaN bits). */
function bitsDiffer(a: Float32Array, b: Float32Array): number {
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length),
    y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  let bad = 0;
  for (let k = 0; k < x.length; ++k) if (x[k] !== y[k] && !(Number.isNaN(a[k]) && Number.isNaN(b[k]))) ++bad;
  return bad + Math.abs(a.length - b.length);
}

/** Runs one training call (forward, backward) and returns what it produced. */
function run(c: Case, shape: [number, number, number], x: Float32Array, g: Float32Array) {
  const layer = layerOf(c);
  const out = layer.forward(Tensor.from(x, shape)).toFloat32Array();
  const v1 = layer.vMem!.toFloat32Array();
  const firingRate = layer.firingRate!;
  const gx = layer.backward(Tensor.from(g, shape)).toFloat32Array();
  return { out, v1, gx, firingRate, tauGrad: layer.tauMem!.grad!.toFloat32Array() };
}

function checkCase(c: Case, shape: [number, number, number], seed: number, threads: number[]): void {
  const [B, T, N] = shape;
  const x = inputs(c, B, T, N, seed);
  const g = Float32Array.from({ length: B * T * N }, rng(seed + 1)).map((v) => v * 2 - 1);
  const want = emulate(c, B, T, N, x, g);
  const prev = getNumThreads();
  const runs: ReturnType<typeof run>[] = [];
  try {
    for (const th of threads) {
      setNumThreads(th);
      runs.push(run(c, shape, x, g));
    }
  } finally {
    setNumThreads(prev);
  }
  const what = `theta ${c.theta}, max ${c.maxSpikes}, tauSyn ${c.tauSyn}, shape [${shape.join(', ')}]`;
  let spikes = 0;
  for (let k = 0; k < want.out.length; ++k) spikes += want.out[k]!;
  expect(spikes, `${what}: the input makes spikes`).to.be.greaterThan(0);
  runs.forEach((r, k) => {
    const t = `${what}, ${threads[k]} thread(s)`;
    expect(bitsDiffer(r.out, want.out), `${t}: spikes`).to.equal(0);
    expect(bitsDiffer(r.v1, want.v1), `${t}: final membrane`).to.equal(0);
    expect(bitsDiffer(r.gx, want.gx), `${t}: input gradient`).to.equal(0);
    expect(bitsDiffer(r.tauGrad, runs[0]!.tauGrad), `${t}: tau_mem gradient vs ${threads[0]} thread(s)`).to.equal(0);
    expect(Object.is(r.firingRate, runs[0]!.firingRate), `${t}: firing rate vs ${threads[0]} thread(s)`).to.equal(true);
  });
}

describe('CPU kernel fast paths (bit-identical to the general path)', function () {
  describe('spike count with a power-of-two threshold (multiply by the reciprocal)', function () {
    // powers of two take the multiply, the others divide; 2^126 and 2^-126 are the extreme
    // powers with a normal reciprocal, the subnormal 2^-127 is not eligible
    const thetas = [1, 0.5, 2, 0.125, 16, 2 ** -20, 2 ** 20, 2 ** 126, 2 ** -126, 2 ** -127];
    const others = [0.3, 3, 0.7, f(1 + 2 ** -23), f(1 - 2 ** -24), 1e-3, 1e3];
    for (const theta of [...thetas, ...others])
      it(`theta ${theta}`, function () {
        checkCase({ theta, maxSpikes: Infinity }, [2, 40, 150], 11, [1, 2]);
        checkCase({ theta, maxSpikes: 2 }, [2, 40, 150], 12, [1]);
        // the synaptic current sums ~10 inputs: keep it finite
        if (theta <= 2 ** 100) checkCase({ theta, maxSpikes: 2, tauSyn: 10 }, [2, 40, 150], 13, [1]);
      });
  });

  describe('calls below and above the calling-thread threshold', function () {
    // 2^18 neuron-steps for a forward and for a backward; one job
    // (B = 1, N = 64) always runs on the calling thread. The chunk width of the jobs depends on
    // the team (whole rows unless threads would idle): the firing rate (the kernels' spike sum)
    // and the tau gradient must not notice.
    const shapes: [number, number, number][] = [
      [1, 1, 64],
      [3, 5, 7],
      [1, 64, 1023],
      [1, 64, 1025],
      [1, 256, 1023],
      [1, 256, 1025],
      [4, 70, 300],
      // the split depends on the team: 1024-neuron chunks at 1 and 3 threads, 512 at 2
      [3, 40, 1000],
    ];
    for (const shape of shapes)
      it(`shape [${shape.join(', ')}], 1, 2 and 3 threads`, function () {
        checkCase({ theta: 1, maxSpikes: Infinity }, shape, 21, [1, 2, 3]);
        checkCase({ theta: 0.3, maxSpikes: Infinity, tauSyn: 5 }, shape, 22, [1, 2, 3]);
      });

    it('kept replay buffers: a large call, a small one, then large ones with other widths', function () {
      const seq: [number, number, number][] = [
        [4, 70, 1024],
        [1, 3, 5],
        [2, 33, 700],
        [1, 40, 64],
        [4, 70, 1024],
      ];
      seq.forEach((shape, k) =>
        checkCase({ theta: 1, maxSpikes: Infinity, tauSyn: k % 2 ? 7 : undefined }, shape, 30 + k, [2]),
      );
    });
  });
});
