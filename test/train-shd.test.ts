// examples/train-shd.ts (npm start) as a program on tiny configurations: the synthetic dataset
// and an SHD-layout HDF5 file (--data), checking that it finishes, reports per epoch on stderr
// (one line per epoch when stderr is not a terminal) and writes a model file with PyTorch's
// state-dict keys that loads back into the same network.
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { LIF, Linear, Sequential, parseSafetensors } from '../lib/index.js';
import { readFileSync } from 'node:fs';
import { writeShd } from './support/hdf5-writer.js';
import { rng } from './support/random.js';

const exampleJs = join(dirname(fileURLToPath(import.meta.url)), '..', 'examples', 'train-shd.js');
const run = (args: string[]): Promise<{ stdout: string; stderr: string }> =>
  promisify(execFile)(process.execPath, [exampleJs, ...args], { timeout: 100_000 });

/** The keys of sinabs' Sequential(Linear, LIF, Linear, LIF) state_dict, in PyTorch's order. */
const KEYS = [
  '0.weight',
  '0.bias',
  '1.tau_mem',
  '1.spike_threshold',
  '1.v_mem',
  '2.weight',
  '2.bias',
  '3.tau_mem',
  '3.spike_threshold',
  '3.v_mem',
];

function checkModel(path: string, units: number, hidden: number, classes: number): void {
  const { tensors, metadata, dtypes } = parseSafetensors(readFileSync(path));
  expect(Object.keys(tensors).sort()).to.deep.equal(KEYS.slice().sort());
  expect(metadata).to.deep.equal({ format: 'pt' });
  expect(new Set(Object.values(dtypes))).to.deep.equal(new Set(['F32']));
  expect(tensors['0.weight']!.shape).to.deep.equal([hidden, units]);
  expect(tensors['0.bias']!.shape).to.deep.equal([hidden]);
  expect(tensors['2.weight']!.shape).to.deep.equal([classes, hidden]);
  expect(tensors['1.tau_mem']!.shape).to.deep.equal([]);
  expect(tensors['1.v_mem']!.shape).to.deep.equal([0]); // as a fresh sinabs layer: loads into one
  // loads (strictly) into the same network built here
  const model = new Sequential(
    new Linear({ inFeatures: units, outFeatures: hidden }),
    new LIF({ tauMem: 20 }),
    new Linear({ inFeatures: hidden, outFeatures: classes }),
    new LIF({ tauMem: 20 }),
  );
  model.loadStateDict(tensors);
  expect(Array.from(model.stateDict()['0.weight']!.toFloat32Array())).to.deep.equal(
    Array.from(tensors['0.weight']!.toFloat32Array()),
  );
}

describe('examples/train-shd (npm start)', () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'spikelayers-shd-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('trains on a tiny synthetic set and writes a loadable model', async () => {
    const out = join(dir, 'syn.safetensors');
    const { stdout, stderr } = await run([
      '--samples',
      '80',
      '--classes',
      '4',
      '--units',
      '32',
      '--hidden',
      '16',
      '--steps',
      '20',
      '--epochs',
      '2',
      '--batch-size',
      '16',
      '--out',
      out,
    ]);
    // not a terminal: one line per epoch
    const lines = stderr.trim().split('\n');
    expect(lines).to.have.length(2);
    lines.forEach((l, k) =>
      expect(l).to.match(
        new RegExp(`^epoch ${k + 1}/2 \\[#{24}\\] 64/64  +\\d+ samples/s  loss \\d+\\.\\d{4}  accuracy \\d+\\.\\d%$`),
      ),
    );
    expect(stdout).to.match(/64 training and 16 test samples, 4 classes, 32 units x 20 steps/);
    expect(stdout).to.match(
      /\ntest accuracy \d+\.\d% \(\d+\/16; chance 25\.0%\), test loss \d+\.\d{4}; training [\d.]+ s\n/,
    );
    expect(existsSync(out)).to.equal(true);
    checkModel(out, 32, 16, 4);
  });

  it('the trained model is bit-identical with 1 and 2 kernel threads', async () => {
    // large enough that the GEMMs and LIF kernels split their work over both threads
    const args = ['--samples', '80', '--classes', '4', '--units', '200', '--hidden', '48', '--steps', '40'];
    args.push('--epochs', '2', '--batch-size', '16');
    const one = join(dir, 't1.safetensors'),
      two = join(dir, 't2.safetensors');
    const a = await run([...args, '--threads', '1', '--out', one]);
    const b = await run([...args, '--threads', '2', '--out', two]);
    expect(readFileSync(one).equals(readFileSync(two)), 'model files').to.equal(true);
    const acc = (s: string): string => /test accuracy [^;]*/.exec(s)![0];
    expect(acc(b.stdout)).to.equal(acc(a.stdout));
  });

  it('--data: an SHD-layout HDF5 file, held-out split; --test: a separate file', async () => {
    const r = rng(9);
    const sample = (label: number): { times: number[]; units: number[]; label: number } => {
      const n = 5 + Math.floor(r() * 20);
      const times = Array.from({ length: n }, () => r() * 1.3).sort((a, b) => a - b);
      return { times, units: times.map(() => Math.floor(r() * 700)), label };
    };
    const train = join(dir, 'shd_train.h5'),
      test = join(dir, 'shd_test.h5');
    writeShd(
      train,
      Array.from({ length: 30 }, (_, i) => sample(i % 20)),
      { extra: true },
    );
    writeShd(
      test,
      Array.from({ length: 10 }, (_, i) => sample(i % 20)),
    );
    const out = join(dir, 'shd.safetensors');
    const a = await run(['--data', train, '--hidden', '8', '--epochs', '1', '--batch-size', '8', '--out', out]);
    expect(a.stdout).to.match(
      /shd_train\.h5 \(20% held out\): 24 training and 6 test samples, 20 classes, 700 units x 100 steps of 14\.0 ms/,
    );
    expect(a.stderr).to.match(/^epoch 1\/1 \[#{24}\] 24\/24 /);
    checkModel(out, 700, 8, 20);
    const b = await run([
      '--data',
      train,
      '--test',
      test,
      '--hidden',
      '8',
      '--epochs',
      '1',
      '--batch-size',
      '8',
      '--out',
      out,
    ]);
    expect(b.stdout).to.match(/: 30 training and 10 test samples, 20 classes/);
    expect(b.stdout).to.match(/test accuracy \d+\.\d% \(\d+\/10; chance 5\.0%\)/);
    checkModel(out, 700, 8, 20);
  });

  it('bad arguments and files: exit status 2 with the usage, or 1 with the reason', async () => {
    const fail = (args: string[]): Promise<{ code: number; stderr: string }> =>
      run(args).then(
        () => ({ code: 0, stderr: '' }),
        (e: { code: number; stderr: string }) => e,
      );
    const a = await fail(['--epochs', '0']);
    expect(a.code).to.equal(2);
    expect(a.stderr).to.match(/--epochs must be an integer >= 1, got '0'\nusage:/);
    const b = await fail(['--bogus']);
    expect(b.code).to.equal(2);
    expect(b.stderr).to.match(/Unknown option '--bogus'/);
    const c = await fail(['--data', join(dir, 'missing.h5')]);
    expect(c.code).to.equal(1);
    expect(c.stderr).to.match(/cannot read '.*missing\.h5': no such file/);
  });
});
