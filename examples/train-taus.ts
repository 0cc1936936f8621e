/**
 * Learns the per-neuron membrane time constants of a LIF layer from spikes alone.
 *
 * A teacher LIF layer with hidden per-neuron taus (log-uniform in [5, 40]) and a student with
 * every tau set to 15 get the same random input currents. The student's taus are trained with
 * surrogate-gradient backpropagation through time so that its spike trains match the teacher's.
 * Spike trains are compared after exponential smoothing (the van Rossum distance), which turns
 * the discontinuous spike counts into a loss whose gradient dL/d(spikes) we compute here in
 * TypeScript and hand to layer.backward(); the gradient then arrives in layer.tauMem.grad.
 *
 *   npm start                                   # build and run with the defaults
 *   node dist/examples/train-taus.js --steps 500 --seed 7
 */
import { parseArgs } from 'node:util';
import { Adam, LIF, Tensor, getNumThreads } from '../lib/index.js';

// ---- configuration --------------------------------------------------------------------------

const USAGE = 'usage: node dist/examples/train-taus.js [--steps N] [--seed S]';
let args: { steps?: string; seed?: string; help?: boolean };
try {
  ({ values: args } = parseArgs({
    options: {
      steps: { type: 'string', default: '300' },
      seed: { type: 'string', default: '1' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  }));
} catch (e) {
  console.error(`${(e as Error).message}\n${USAGE}`);
  process.exit(2);
}
if (args.help) {
  console.log(USAGE);
  process.exit(0);
}
function intArg(name: string, v: string, min: number): number {
  const x = Number(v);
  if (!Number.isInteger(x) || x < min) {
    console.error(`--${name} must be an integer >= ${min}, got '${v}'`);
    process.exit(2);
  }
  return x;
}
const STEPS = intArg('steps', args.steps!, 1);
const SEED = intArg('seed', args.seed!, 0);

const N = 16; // neurons
const B = 64; // sequences per step (fresh random inputs every step)
const T = 400; // time steps per sequence (the slowest neurons fire ~10 times per sequence)
const TAU_MIN = 5,
  TAU_MAX = 40; // range of the teacher's taus
const TAU_INIT = 15; // the student's initial tau, the same for every neuron
const TAU_VR = 50; // van Rossum kernel time constant (steps); see the note at vanRossum()
const LOG_EVERY = 10;

// Input current per (sequence, neuron): a constant drive mu in [MU_LO, MU_HI] plus slowly varying
// noise (an Ornstein-Uhlenbeck process). With sinabs' normalised input the membrane relaxes
// towards the input, so a drive above the threshold (1) makes every neuron spike regularly, with
// an inter-spike interval of about tau * ln(mu / (mu - 1)): the spike timing encodes tau.
const MU_LO = 1.2,
  MU_HI = 2.5,
  NOISE_SD = 0.5,
  NOISE_TAU = 5;

// ---- seeded randomness ----------------------------------------------------------------------

function mulberry32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    let t = (s = (s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = mulberry32(SEED);
/** Standard normal samples (Box-Muller, both outputs used). */
let spare: number | null = null;
function gauss(): number {
  if (spare !== null) {
    const z = spare;
    spare = null;
    return z;
  }
  const r = Math.sqrt(-2 * Math.log(1 - rand())),
    phi = 2 * Math.PI * rand();
  spare = r * Math.sin(phi);
  return r * Math.cos(phi);
}

function makeInput(): Tensor {
  const x = new Float32Array(B * T * N);
  const a = Math.exp(-1 / NOISE_TAU),
    c = Math.sqrt(1 - a * a);
  for (let b = 0; b < B; ++b) {
    for (let n = 0; n < N; ++n) {
      const mu = MU_LO + (MU_HI - MU_LO) * rand();
      let z = gauss();
      for (let t = 0; t < T; ++t) {
        z = a * z + c * gauss();
        x[(b * T + t) * N + n] = mu + NOISE_SD * z;
      }
    }
  }
  return Tensor.from(x, [B, T, N]);
}

// ---- loss: van Rossum distance between spike trains -----------------------------------------

/**
 * Filters both spike trains with the causal kernel exp(-t / TAU_VR) and returns the mean squared
 * difference of the filtered traces over all (sequence, step, neuron), and its gradient with
 * respect to the student's spikes (the filter's adjoint: the same filter run backwards in time).
 *
 * The kernel must be long compared with the inter-spike intervals (here up to ~70 steps). With
 * a short kernel (e.g. 10 steps) the loss compares individual spike times, and the surrogate
 * gradient for a slow neuron then points the wrong way when its tau is a few percent below the
 * truth: training of tau ~ 38 settles about 5% low. A 50-step kernel compares local spike
 * counts, whose surrogate gradient has the right sign for every tau in [5, 40].
 */
function vanRossum(student: Float32Array, target: Float32Array): { loss: number; grad: Float32Array } {
  const a = Math.exp(-1 / TAU_VR);
  const scale = 1 / (B * T * N);
  const grad = new Float32Array(B * T * N);
  let loss = 0;
  for (let b = 0; b < B; ++b) {
    for (let n = 0; n < N; ++n) {
      let fs = 0,
        ft = 0;
      for (let t = 0; t < T; ++t) {
        const i = (b * T + t) * N + n;
        fs = a * fs + student[i]!;
        ft = a * ft + target[i]!;
        const e = fs - ft;
        loss += e * e;
        grad[i] = 2 * e * scale; // dL / d(filtered trace)
      }
      let g = 0;
      for (let t = T - 1; t >= 0; --t) {
        const i = (b * T + t) * N + n;
        g = grad[i]! + a * g; // dL / d(spike at t) = sum over t' >= t of a^(t'-t) dL/df(t')
        grad[i] = g;
      }
    }
  }
  return { loss: loss * scale, grad };
}

// ---- layers and optimiser -------------------------------------------------------------------

// log-uniform in [TAU_MIN, TAU_MAX]
const trueTaus = Array.from({ length: N }, () => TAU_MIN * Math.pow(TAU_MAX / TAU_MIN, rand()));
const teacher = new LIF({ tauMem: Tensor.from(trueTaus, [N]) }).eval();
const student = new LIF({ tauMem: Tensor.full([N], TAU_INIT) });
const initialTaus = student.tauMem!.toArray();

// Adam in tau units (lr = 0.5 steps of tau per update at most), kept above 1.5 so alpha stays
// well inside (0, 1). beta2 = 0.9 instead of 0.999: the gradient of a neuron shrinks by orders
// of magnitude as its tau approaches the truth (until it is exactly 0 once the spikes match),
// and a long second-moment memory would then shrink the steps of the large-tau neurons, whose
// early gradients were largest, to a crawl.
const opt = new Adam([student.tauMem!], { lr: 0.5, beta2: 0.9, min: 1.5 });

/** Teacher spikes (eval mode: no backward data kept) for a fresh batch. */
function teacherSpikes(x: Tensor): Float32Array {
  teacher.resetStates();
  return teacher.forward(x).toFloat32Array();
}

/** Held-out loss of the student in eval mode (no gradient bookkeeping). */
function evalLoss(x: Tensor, target: Float32Array): number {
  student.eval();
  student.resetStates();
  const loss = vanRossum(student.forward(x).toFloat32Array(), target).loss;
  student.train();
  return loss;
}

function tauErrors(): { abs: number; rel: number[] } {
  const learned = student.tauMem!.toArray();
  const rel = learned.map((v, n) => Math.abs(v - trueTaus[n]!) / trueTaus[n]!);
  const abs = learned.reduce((s, v, n) => s + Math.abs(v - trueTaus[n]!), 0) / N;
  return { abs, rel };
}
const mean = (xs: number[]): number => xs.reduce((s, v) => s + v, 0) / xs.length;
const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;

// ---- training -------------------------------------------------------------------------------

console.log(
  `train-taus: learn the membrane time constants of ${N} LIF neurons (initially all ${TAU_INIT}) so that ` +
    `their spikes match a teacher's with hidden taus in [${TAU_MIN}, ${TAU_MAX}], by BPTT on a van Rossum spike-train loss.`,
);
console.log(
  `  batch ${B} x ${T} steps x ${N} neurons, fresh inputs every step; ${STEPS} Adam steps; seed ${SEED}; ` +
    `${getNumThreads()} kernel thread(s)`,
);

// a fixed held-out batch to compare the initial and the learned student on
const testX = makeInput();
const testTarget = teacherSpikes(testX);
const spikesPerSeq = new Array<number>(N).fill(0);
for (let k = 0; k < testTarget.length; ++k) spikesPerSeq[k % N] += testTarget[k]! / B;
const silent = spikesPerSeq.flatMap((s, n) => (s === 0 ? [n] : []));
if (silent.length)
  console.log(`  warning: teacher neuron(s) ${silent.join(', ')} never spike; their taus cannot be identified`);
const testLoss0 = evalLoss(testX, testTarget);

const t0 = performance.now();
const elapsed = (): string => `${((performance.now() - t0) / 1000).toFixed(1)} s`;
let lossAvg = 0,
  lossCount = 0;
for (let step = 1; step <= STEPS; ++step) {
  const x = makeInput();
  const target = teacherSpikes(x);

  student.resetStates(); // independent sequences: zero state, no gradient path into the previous step
  opt.zeroGrad();
  const spikes = student.forward(x);
  const { loss, grad } = vanRossum(spikes.toFloat32Array(), target);
  student.backward(Tensor.from(grad, [B, T, N])); // accumulates d loss / d tau into student.tauMem.grad
  opt.step();

  lossAvg += loss;
  lossCount += 1;
  if (step % LOG_EVERY === 0 || step === 1 || step === STEPS) {
    const e = tauErrors();
    console.log(
      `step ${String(step).padStart(4)}  loss ${(lossAvg / lossCount).toFixed(4)}  ` +
        `mean |tau error| ${e.abs.toFixed(2)} (${pct(mean(e.rel))})  elapsed ${elapsed()}`,
    );
    lossAvg = 0;
    lossCount = 0;
  }
}
const trainTime = (performance.now() - t0) / 1000;

// ---- report ---------------------------------------------------------------------------------

const learned = student.tauMem!.toArray();
const { rel } = tauErrors();
console.log('\nneuron  true tau  initial tau  learned tau  rel. error  teacher spikes/seq');
for (let n = 0; n < N; ++n) {
  console.log(
    `${String(n).padStart(6)}  ${trueTaus[n]!.toFixed(2).padStart(8)}  ${initialTaus[n]!.toFixed(2).padStart(11)}  ` +
      `${learned[n]!.toFixed(2).padStart(11)}  ${pct((learned[n]! - trueTaus[n]!) / trueTaus[n]!).padStart(10)}  ` +
      `${spikesPerSeq[n]!.toFixed(1).padStart(18)}`,
  );
}
const initialRel = initialTaus.map((v, n) => Math.abs(v - trueTaus[n]!) / trueTaus[n]!);
const within10 = rel.filter((r) => r < 0.1).length;
console.log(
  `\nmean |relative error| ${pct(mean(rel))} (initially ${pct(mean(initialRel))}), max ${pct(Math.max(...rel))}, ` +
    `${within10}/${N} neurons within 10%`,
);
console.log(
  `held-out loss: initial student ${testLoss0.toFixed(4)}, learned student ${evalLoss(testX, testTarget).toFixed(4)}`,
);
console.log(`total time ${trainTime.toFixed(1)} s (${((1000 * trainTime) / STEPS).toFixed(1)} ms per step)`);
