/**
 * Trains a two-layer spiking network to classify spike patterns: by default a synthetic dataset
 * shaped like the Spiking Heidelberg Digits (700 input units, 1.4 s, 20 classes; see
 * lib/data/synthetic.ts), or the real SHD files with --data.
 *
 *   Sequential(Linear(units, hidden), LIF(tauMem 20), Linear(hidden, classes), LIF(tauMem 20))
 *
 * Input: spike counts in T time bins, (B, T, units). The prediction is the output neuron with
 * the most spikes over time; the loss is the cross-entropy of those spike counts (as logits),
 * minimised with Adam by surrogate-gradient backpropagation through time. At the end it prints
 * the test accuracy and saves the model's state dict as safetensors, with PyTorch key names
 * (`0.weight`, `1.tau_mem`, ...), loadable in Python:
 *
 *   model = nn.Sequential(nn.Linear(700, 128), sinabs.layers.LIF(tau_mem=20.0),
 *                         nn.Linear(128, 20), sinabs.layers.LIF(tau_mem=20.0))
 *   model.load_state_dict(safetensors.torch.load_file('model.safetensors'))
 *
 *   npm start                                                 # synthetic data, defaults
 *   node dist/examples/train-shd.js --data shd_train.h5 --test shd_test.h5 --epochs 20
 *   node dist/examples/train-shd.js --device cuda --hidden 256 --batch-size 128
 *
 * Progress goes to stderr: a bar per epoch when stderr is a terminal, else one line per epoch.
 */
import { parseArgs } from 'node:util';
import {
  Adam,
  EventDataset,
  LIF,
  Linear,
  Sequential,
  SumOverTime,
  Tensor,
  backendInfo,
  crossEntropyLoss,
  getNumThreads,
  loadShd,
  saveSafetensors,
  setNumThreads,
  syntheticEvents,
} from '../lib/index.js';

// ---- command line -----------------------------------------------------------------------------

const USAGE = `usage: node dist/examples/train-shd.js [options]
  --data PATH        SHD-layout HDF5 training file (default: the synthetic dataset)
  --test PATH        SHD-layout HDF5 test file (default: a held-out part of the training data)
  --test-fraction F  held-out fraction when there is no --test (default 0.2)
  --samples N        synthetic dataset: samples (default 2000)
  --classes N        synthetic dataset: classes (default 20)
  --units N          synthetic dataset: input units (default 700)
  --limit N          read at most N samples of each file
  --epochs N         training epochs (default 6)
  --hidden N         hidden LIF neurons (default 128)
  --batch-size N     samples per batch (default 64)
  --steps N          time bins T (default 100)
  --max-time S       length of the binned window in seconds (default 1.4)
  --lr X             Adam learning rate (default 0.02)
  --init-std X       scale the initial weights so that the first Linear layer's outputs on the
                     first batch have this standard deviation (the second's a third of it);
                     0: PyTorch's initialisation (default 6)
  --seed N           seed of the weights, the data order and the synthetic data (default 0)
  --device D         cpu, cuda or auto (default cpu)
  --threads N        CPU kernel threads (default: the library's default)
  --out PATH         where to save the trained model (default model.safetensors)`;

interface Args {
  data?: string;
  test?: string;
  testFraction: number;
  samples: number;
  classes: number;
  units: number;
  limit?: number;
  epochs: number;
  hidden: number;
  batchSize: number;
  steps: number;
  maxTime: number;
  lr: number;
  initStd: number;
  seed: number;
  device: string;
  threads?: number;
  out: string;
}

function fail(msg: string): never {
  console.error(`train-shd: ${msg}\n${USAGE}`);
  process.exit(2);
}

function readArgs(argv: string[]): Args {
  let v: Record<string, string | boolean | undefined>;
  const s = { type: 'string' } as const;
  try {
    ({ values: v } = parseArgs({
      args: argv,
      options: {
        data: s,
        test: s,
        'test-fraction': s,
        samples: s,
        classes: s,
        units: s,
        limit: s,
        epochs: s,
        hidden: s,
        'batch-size': s,
        steps: s,
        'max-time': s,
        lr: s,
        'init-std': s,
        seed: s,
        device: s,
        threads: s,
        out: s,
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    fail((e as Error).message);
  }
  if (v.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const int = (name: string, dflt: number | undefined, min: number): number | undefined => {
    const raw = v[name];
    if (raw === undefined) return dflt;
    const x = Number(raw);
    if (!Number.isInteger(x) || x < min) fail(`--${name} must be an integer >= ${min}, got '${raw}'`);
    return x;
  };
  const num = (name: string, dflt: number, ok: (x: number) => boolean, what: string): number => {
    const raw = v[name];
    if (raw === undefined) return dflt;
    const x = Number(raw);
    if (!Number.isFinite(x) || !ok(x)) fail(`--${name} must be ${what}, got '${raw}'`);
    return x;
  };
  const device = (v.device as string | undefined) ?? 'cpu';
  if (!['cpu', 'cuda', 'auto'].includes(device) && !/^cuda:\d+$/.test(device))
    fail(`--device must be cpu, cuda, cuda:N or auto, got '${device}'`);
  if (v.test !== undefined && v.data === undefined) fail('--test needs --data');
  return {
    data: v.data as string | undefined,
    test: v.test as string | undefined,
    testFraction: num('test-fraction', 0.2, (x) => x > 0 && x < 1, 'a number in (0, 1)'),
    samples: int('samples', 2000, 2)!,
    classes: int('classes', 20, 2)!,
    units: int('units', 700, 1)!,
    limit: int('limit', undefined, 1),
    epochs: int('epochs', 6, 1)!,
    hidden: int('hidden', 128, 1)!,
    batchSize: int('batch-size', 64, 1)!,
    steps: int('steps', 100, 1)!,
    maxTime: num('max-time', 1.4, (x) => x > 0, 'a number > 0'),
    lr: num('lr', 0.02, (x) => x > 0, 'a number > 0'),
    initStd: num('init-std', 6, (x) => x >= 0, 'a number >= 0'),
    seed: int('seed', 0, 0)!,
    device,
    threads: int('threads', undefined, 1),
    out: (v.out as string | undefined) ?? 'model.safetensors',
  };
}

// ---- progress ---------------------------------------------------------------------------------

/** A progress bar on a terminal (redrawn in place); elsewhere only the final line of each epoch. */
class Progress {
  readonly #tty = process.stderr.isTTY === true;
  #last = 0;
  constructor(
    readonly label: string,
    readonly total: number,
  ) {}

  update(done: number, text: string, final = false): void {
    const now = performance.now();
    if (!final && (!this.#tty || now - this.#last < 100)) return;
    this.#last = now;
    const width = 24,
      filled = Math.round((width * done) / Math.max(1, this.total));
    const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
    const line = `${this.label} ${bar} ${String(done).padStart(String(this.total).length)}/${this.total}  ${text}`;
    if (this.#tty) process.stderr.write(`\r\x1b[2K${line}${final ? '\n' : ''}`);
    else if (final) process.stderr.write(`${line}\n`);
  }
}

// ---- the network ------------------------------------------------------------------------------

/** Number of rows whose largest logit (the first of equal ones) is the label. */
function correct(logits: Float32Array, labels: Int32Array, C: number): number {
  let ok = 0;
  for (let b = 0; b < labels.length; ++b) {
    let best = 0;
    for (let c = 1; c < C; ++c) if (logits[b * C + c]! > logits[b * C + best]!) best = c;
    if (best === labels[b]) ++ok;
  }
  return ok;
}

function buildModel(units: number, hidden: number, classes: number, seed: number): Sequential {
  return new Sequential(
    new Linear({ inFeatures: units, outFeatures: hidden, seed: 2 * seed + 1 }),
    new LIF({ tauMem: 20 }),
    new Linear({ inFeatures: hidden, outFeatures: classes, seed: 2 * seed + 2 }),
    new LIF({ tauMem: 20 }),
  );
}

/**
 * Rescales the weights and bias of each Linear layer so that its outputs on `x` have standard
 * deviation `target` (the first layer; the output layer `target / 3`): a data-dependent
 * initialisation, as LSUV. Why: sinabs' LIF normalises its
 * input (v <- alpha v + (1 - alpha) I), so the membrane follows a ~20-step average of the input
 * current, and with PyTorch's default weights on sparse spike counts that average stays far below
 * the threshold: no neuron spikes, the spike counts are all 0 and training barely starts.
 * Returns the scale factors and the spike rates after rescaling.
 */
function rescaleInit(model: Sequential, x: Tensor, target: number): { scales: number[]; rates: number[] } {
  model.eval();
  const dict = model.stateDict();
  const scales: number[] = [],
    rates: number[] = [];
  let h = x;
  for (let i = 0; i < model.length; ++i) {
    const layer = model.at(i)!;
    if (layer instanceof Linear) {
      const y = layer.forward(h).toFloat32Array();
      let s = 0,
        s2 = 0;
      for (const v of y) {
        s += v;
        s2 += v * v;
      }
      const sd = Math.sqrt(Math.max(0, s2 / y.length - (s / y.length) ** 2));
      // the output layer a third of it: large initial spike counts make the initial cross-entropy large
      const k = sd > 0 ? (scales.length === 0 ? target : target / 3) / sd : 1;
      scales.push(k);
      for (const name of ['weight', 'bias']) {
        const key = `${i}.${name}`;
        if (dict[key])
          dict[key] = Tensor.from(
            dict[key]!.toFloat32Array().map((v) => v * k),
            dict[key]!.shape,
          );
      }
      model.loadStateDict(dict);
    }
    h = layer.forward(h);
    if (layer instanceof LIF) {
      const a = h.toFloat32Array();
      rates.push(a.reduce((p, v) => p + v, 0) / a.length);
    }
  }
  model.resetStates();
  model.train();
  return { scales, rates };
}

/** Test accuracy and mean loss (eval mode: nothing kept for a backward). */
function evaluate(model: Sequential, ds: EventDataset, a: Args, device: string): { accuracy: number; loss: number } {
  model.eval();
  const readout = new SumOverTime({ device }).eval();
  let ok = 0,
    lossSum = 0;
  for (const batch of ds.batches({ batchSize: a.batchSize, numSteps: a.steps, maxTime: a.maxTime, device })) {
    model.resetStates();
    const logits = readout.forward(model.forward(batch.input));
    ok += correct(logits.toFloat32Array(), batch.labels, logits.shape[1]!);
    lossSum += crossEntropyLoss(logits, batch.labels).loss * batch.labels.length;
  }
  model.train();
  return { accuracy: ok / ds.length, loss: lossSum / ds.length };
}

// ---- main -------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const a = readArgs(process.argv.slice(2));
  if (a.threads !== undefined) setNumThreads(a.threads);
  const cuda = backendInfo().cuda;
  const device = a.device === 'auto' ? (cuda.available ? 'cuda:0' : 'cpu') : a.device === 'cuda' ? 'cuda:0' : a.device;
  if (device !== 'cpu' && !cuda.available) {
    console.error(`train-shd: --device ${a.device}: CUDA is not usable here (${cuda.code}: ${cuda.reason})`);
    process.exit(1);
  }

  // data
  const t0 = performance.now();
  let train: EventDataset, test: EventDataset, source: string;
  try {
    if (a.data) {
      const opts = { numSteps: a.steps, maxTime: a.maxTime, ...(a.limit ? { limit: a.limit } : {}) };
      const all = await loadShd(a.data, opts);
      if (a.test) {
        train = all;
        test = await loadShd(a.test, { ...opts, numClasses: Math.max(all.numClasses, 1), numUnits: all.numUnits });
      } else [train, test] = all.split(a.testFraction, a.seed);
      source = `${a.data}${a.test ? ` (test: ${a.test})` : ` (${Math.round(100 * a.testFraction)}% held out)`}`;
    } else {
      const all = syntheticEvents({
        numSamples: a.samples,
        numClasses: a.classes,
        numUnits: a.units,
        numSteps: a.steps,
        maxTime: a.maxTime,
        seed: a.seed,
      });
      [train, test] = all.split(a.testFraction, a.seed);
      source = `synthetic (${a.samples} samples, seed ${a.seed}, ${Math.round(100 * a.testFraction)}% held out)`;
    }
  } catch (e) {
    console.error(`train-shd: ${(e as Error).message}`);
    process.exit(1);
  }
  const classes = Math.max(train.numClasses, test.numClasses),
    units = train.numUnits;
  const loadSeconds = (performance.now() - t0) / 1000;

  const model = buildModel(units, a.hidden, classes, a.seed).to(device);
  model.train();
  let initLine = "PyTorch's default initialisation";
  if (a.initStd > 0) {
    const first = train
      .batches({ batchSize: a.batchSize, shuffle: true, seed: a.seed, numSteps: a.steps, maxTime: a.maxTime, device })
      .next().value!;
    const r = rescaleInit(model, first.input, a.initStd);
    initLine =
      `initial weights rescaled x${r.scales.map((k) => k.toFixed(1)).join(', x')} (Linear outputs' sd ${a.initStd} and ${+(a.initStd / 3).toFixed(2)} ` +
      `on a first batch; LIF spike rates ${r.rates.map((v) => `${(100 * v).toFixed(1)}%`).join(', ')})`;
  }
  const opt = new Adam(model.parameters(), { lr: a.lr });
  const readout = new SumOverTime({ device }); // logits: spike counts summed over time, (B, T, C) -> (B, C)
  console.log(
    `train-shd: ${source}: ${train.length} training and ${test.length} test samples, ${classes} classes, ` +
      `${units} units x ${a.steps} steps of ${((1000 * a.maxTime) / a.steps).toFixed(1)} ms (data ready in ${loadSeconds.toFixed(1)} s)`,
  );
  console.log(
    `  model: Linear(${units}, ${a.hidden}) -> LIF(tauMem 20) -> Linear(${a.hidden}, ${classes}) -> LIF(tauMem 20); ` +
      `${model.parameters().reduce((s, p) => s + p.size, 0)} parameters; Adam lr ${a.lr}; batch ${a.batchSize}; ` +
      `${a.epochs} epochs; device ${device}${device === 'cpu' ? ` (${getNumThreads()} threads)` : ''}; seed ${a.seed}`,
  );
  console.log(`  ${initLine}`);

  const tTrain = performance.now();
  for (let epoch = 1; epoch <= a.epochs; ++epoch) {
    const bar = new Progress(`epoch ${String(epoch).padStart(String(a.epochs).length)}/${a.epochs}`, train.length);
    const te = performance.now();
    let seen = 0,
      ok = 0,
      lossSum = 0;
    const status = (): string => {
      const sps = seen / Math.max(1e-9, (performance.now() - te) / 1000);
      return `${sps.toFixed(0).padStart(5)} samples/s  loss ${(lossSum / Math.max(1, seen)).toFixed(4)}  accuracy ${((100 * ok) / Math.max(1, seen)).toFixed(1)}%`;
    };
    for (const batch of train.batches({
      batchSize: a.batchSize,
      shuffle: true,
      seed: a.seed * 1000 + epoch,
      numSteps: a.steps,
      maxTime: a.maxTime,
      device,
    })) {
      const B = batch.labels.length;
      model.resetStates(); // every sample starts from rest; no gradient path into the previous batch
      opt.zeroGrad();
      const logits = readout.forward(model.forward(batch.input));
      const { loss, grad } = crossEntropyLoss(logits, batch.labels);
      model.backward(readout.backward(grad));
      opt.step();
      seen += B;
      ok += correct(logits.toFloat32Array(), batch.labels, classes);
      lossSum += loss * B;
      bar.update(seen, status());
    }
    bar.update(seen, status(), true);
  }
  const trainSeconds = (performance.now() - tTrain) / 1000;

  const r = evaluate(model, test, a, device);
  console.log(
    `test accuracy ${(100 * r.accuracy).toFixed(1)}% (${Math.round(r.accuracy * test.length)}/${test.length}; chance ${(100 / classes).toFixed(1)}%), ` +
      `test loss ${r.loss.toFixed(4)}; training ${trainSeconds.toFixed(1)} s`,
  );

  // the state dict as a fresh sinabs model has it: the neuron states (v_mem) empty, shape [0]
  model.resetStates();
  const dict = model.stateDict();
  for (const k of Object.keys(dict)) if (/(^|\.)(v_mem|i_syn)$/.test(k)) dict[k] = Tensor.zeros([0]);
  saveSafetensors(a.out, dict, { format: 'pt' });
  console.log(`saved ${Object.keys(dict).length} tensors (${Object.keys(dict).join(', ')}) to ${a.out}`);
}

await main();
