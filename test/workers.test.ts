// Layers in worker_threads: the addon loads in several workers at once and unloads with them,
// results in a worker are bit-identical to the same computation in the main thread, many async
// calls are in flight on many layers (in several threads) at once, and terminating a worker, even
// one with kernel calls in flight, leaves the process and the other threads working.
//
// A failure here can be a crash (a segfault when the addon is unloaded with a worker, a use of a
// dead environment's handle), which would take the mocha process down with it. So every scenario
// runs in a child process (this same file, run with SPIKELAYERS_WORKERS_SCENARIO=<name>) and the
// test checks that the child exits 0 without a signal; the workers run this file too (workerData).
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { LIF, Tensor, MaxSpike, MembraneReset, SingleSpike, type LIFOptions } from '../lib/index.js';
import { uniform, prod } from './support/random.js';

const SELF = fileURLToPath(import.meta.url);
const SCENARIO_ENV = 'SPIKELAYERS_WORKERS_SCENARIO';

// ---- the computation (identical in every thread) -----------------------------------------------

const values = (n: number, seed: number, lo = -0.5, hi = 2.5): Float32Array => uniform(seed, n, lo, hi);
const inp = (shape: number[], seed: number, lo?: number, hi?: number): Tensor =>
  Tensor.from(values(prod(shape), seed, lo, hi), shape);

const CONFIGS: (() => LIFOptions)[] = [
  () => ({ tauMem: 10 }),
  () => ({ tauMem: Tensor.from([4, 9, 17, 30], [4, 1]), tauSyn: 3, minVMem: -0.4, recordStates: true }),
  () => ({ tauMem: 6, spikeFn: SingleSpike, resetFn: new MembraneReset({ resetValue: 0.1 }), trainAlphas: true }),
  () => ({
    tauMem: 15,
    tauSyn: 5,
    spikeFn: new MaxSpike({ maxNumSpikesPerBin: 2 }),
    normInput: false,
    spikeThreshold: 2,
  }),
];

interface Job {
  cfg: number;
  seed: number;
  steps: number;
  /** use forwardAsync/backwardAsync */
  async: boolean;
  /** neurons (N = 4 x W) and steps per call */
  W: number;
  T: number;
}

/**
 * A training-like loop: per step a forward (the batch changes from 1 to 3 at step 1 and the state
 * is resampled with the seeded generator), and every second step backward of the pending calls
 * in reverse order. Returns every output, input gradient, the final state and the parameter
 * gradients, concatenated.
 */
async function runJob(job: Job): Promise<Float32Array> {
  const l = new LIF({ ...CONFIGS[job.cfg]!(), seed: job.seed });
  const parts: Float32Array[] = [];
  const shapes: number[][] = [];
  for (let s = 0; s < job.steps; ++s) {
    const shape = [s === 0 ? 1 : 3, job.T + (s % 3), 4, job.W];
    const x = inp(shape, job.seed * 1000 + s);
    const o = job.async ? await l.forwardAsync(x) : l.forward(x);
    parts.push(o.toFloat32Array());
    shapes.push(shape);
    if (s % 2 === 1) {
      while (l.pendingCalls > 0) {
        const sh = shapes.pop()!;
        const g = inp(sh, job.seed * 1000 + 500 + s, -1, 1);
        const gi = job.async ? await l.backwardAsync(g) : l.backward(g);
        parts.push(gi.toFloat32Array());
      }
      if (s % 4 === 3) l.zeroGrad();
    }
  }
  parts.push(l.vMem!.toFloat32Array());
  if (l.iSyn) parts.push(l.iSyn.toFloat32Array());
  for (const p of l.parameters()) if (p.grad) parts.push(p.grad.toFloat32Array());
  const rec = l.recordings.vMem;
  if (rec) parts.push(rec.toFloat32Array());
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** First differing element, or -1 (bitwise: -0 differs from 0, NaN equals the same NaN). */
function firstDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length),
    y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let k = 0; k < x.length; ++k) if (x[k] !== y[k]) return k;
  return -1;
}
function assertSame(a: Float32Array, b: Float32Array, what: string): void {
  const k = firstDiff(a, b);
  if (k >= 0)
    throw new Error(
      `${what}: not bit-identical (length ${a.length} vs ${b.length}, first difference at ${k}: ${a[k]} vs ${b[k]})`,
    );
}

// ---- worker side ---------------------------------------------------------------------------------

type WorkerMsg =
  | { cmd: 'job'; id: number; job: Job }
  | { cmd: 'jobs'; id: number; jobs: Job[] } // run concurrently (async jobs interleave on the pool)
  | { cmd: 'spin' } // sync forwards forever, until terminated
  | { cmd: 'flood'; n: number } // issue n async calls on several layers, report, never await
  | { cmd: 'exit' };

function workerMain(): void {
  const port = parentPort!;
  port.on('message', (m: WorkerMsg) => {
    if (m.cmd === 'job') {
      runJob(m.job).then(
        (r) => port.postMessage({ id: m.id, result: r }, [r.buffer as ArrayBuffer]),
        (e: unknown) => port.postMessage({ id: m.id, error: String((e as Error)?.stack ?? e) }),
      );
    } else if (m.cmd === 'jobs') {
      Promise.all(m.jobs.map(runJob)).then(
        (rs) =>
          port.postMessage(
            { id: m.id, results: rs },
            rs.map((r) => r.buffer as ArrayBuffer),
          ),
        (e: unknown) => port.postMessage({ id: m.id, error: String((e as Error)?.stack ?? e) }),
      );
    } else if (m.cmd === 'spin') {
      const l = new LIF({ tauMem: 8, tauSyn: 2 });
      const x = inp([4, 50, 1024], 5);
      port.postMessage({ spinning: true });
      for (;;) {
        l.forward(x);
        if (l.pendingCalls > 4) l.detachStates();
      }
    } else if (m.cmd === 'flood') {
      const layers = Array.from({ length: 4 }, (_, k) => new LIF({ tauMem: 5 + k, tauSyn: 2 }));
      const x = inp([4, 100, 2048], 6);
      const ps: Promise<unknown>[] = [];
      for (let k = 0; k < m.n; ++k) {
        const l = layers[k % layers.length]!;
        ps.push(l.forwardAsync(x));
        if (k % 3 === 2) ps.push(l.backwardAsync(x));
      }
      for (const p of ps) p.catch(() => undefined);
      port.postMessage({ flooding: ps.length });
    } else if (m.cmd === 'exit') {
      port.close();
    }
  });
}

// ---- main side helpers ---------------------------------------------------------------------------

let nextId = 1;
class W {
  readonly w: Worker;
  exited: Promise<number>;
  errors: unknown[] = [];
  constructor() {
    this.w = new Worker(new URL(import.meta.url), { workerData: { spikelayersWorker: true } });
    this.w.on('error', (e) => this.errors.push(e));
    this.exited = new Promise((res) => this.w.once('exit', res));
  }
  request<R>(msg: Record<string, unknown>): Promise<R> {
    const id = nextId++;
    return new Promise<R>((res, rej) => {
      const on = (m: { id?: number; error?: string } & Record<string, unknown>): void => {
        if (m.id !== id) return;
        this.w.off('message', on);
        if (m.error) rej(new Error(`worker: ${m.error}`));
        else res(m as unknown as R);
      };
      this.w.on('message', on);
      this.w.postMessage({ ...msg, id });
    });
  }
  job(job: Job): Promise<Float32Array> {
    return this.request<{ result: Float32Array }>({ cmd: 'job', job }).then((m) => m.result);
  }
  jobs(jobs: Job[]): Promise<Float32Array[]> {
    return this.request<{ results: Float32Array[] }>({ cmd: 'jobs', jobs }).then((m) => m.results);
  }
  waitFor(key: string): Promise<unknown> {
    return new Promise((res) => {
      const on = (m: Record<string, unknown>): void => {
        if (key in m) {
          this.w.off('message', on);
          res(m[key]);
        }
      };
      this.w.on('message', on);
    });
  }
  /** Lets the worker end by itself (its event loop empties). */
  async finish(): Promise<number> {
    this.w.postMessage({ cmd: 'exit' });
    const code = await this.exited;
    if (this.errors.length) throw new Error(`worker error: ${String(this.errors[0])}`);
    return code;
  }
  async terminate(): Promise<number> {
    const code = await this.w.terminate();
    if (this.errors.length) throw new Error(`worker error: ${String(this.errors[0])}`);
    return code;
  }
}

const JOB = (cfg: number, seed: number, async = false): Job => ({ cfg, seed, steps: 6, async, W: 16, T: 20 });
const gc = (): void => (globalThis as { gc?: () => void }).gc?.();
const log = (o: Record<string, unknown>): void => console.log(JSON.stringify(o));

// ---- scenarios (each runs in its own process) --------------------------------------------------

const SCENARIOS: Record<string, () => Promise<Record<string, unknown>>> = {
  /** The addon is loaded first by workers (never by the main thread), which end by themselves or are terminated; 10 rounds. */
  async 'worker-first'() {
    const results: Float32Array[] = [];
    for (let r = 0; r < 10; ++r) {
      const w = new W();
      results.push(await w.job(JOB(r % 4, 1)));
      const code = r % 2 === 0 ? await w.finish() : await w.terminate();
      if (r % 2 === 0 && code !== 0) throw new Error(`round ${r}: worker exit code ${code}`);
      gc();
    }
    // now the main thread loads the addon too and computes the same
    for (let r = 0; r < 10; ++r) assertSame(results[r]!, await runJob(JOB(r % 4, 1)), `round ${r}: worker vs main`);
    return { rounds: 10 };
  },

  /** The main thread uses the addon, workers load and unload it around it; the main thread keeps working. */
  async 'main-first'() {
    const ref = await runJob(JOB(1, 2));
    for (let r = 0; r < 10; ++r) {
      const w = new W();
      assertSame(await w.job(JOB(1, 2)), ref, `round ${r}: worker result`);
      if (r % 2 === 0) await w.finish();
      else await w.terminate();
      gc();
      assertSame(await runJob(JOB(1, 2)), ref, `round ${r}: main thread after the worker ended`);
      assertSame(await runJob(JOB(1, 2, true)), ref, `round ${r}: main thread (async) after the worker ended`);
    }
    return { rounds: 10 };
  },

  /** 4 workers run sync and async loops at once while the main thread runs its own: all bit-identical to main-thread sync runs. */
  async concurrent() {
    const jobs: Job[][] = [0, 1, 2, 3].map((k) => [
      JOB(k, 10 + k),
      JOB((k + 1) % 4, 20 + k, true),
      JOB((k + 2) % 4, 30 + k, true),
    ]);
    const ws = jobs.map(() => new W());
    const mainJobs = [JOB(0, 40, true), JOB(3, 41, true)];
    const [fromWorkers, fromMain] = await Promise.all([
      Promise.all(ws.map((w, k) => w.jobs(jobs[k]!))),
      Promise.all(mainJobs.map(runJob)),
    ]);
    let compared = 0;
    for (let k = 0; k < ws.length; ++k) {
      for (let j = 0; j < jobs[k]!.length; ++j) {
        assertSame(fromWorkers[k]![j]!, await runJob({ ...jobs[k]![j]!, async: false }), `worker ${k}, job ${j}`);
        ++compared;
      }
    }
    for (let j = 0; j < mainJobs.length; ++j)
      assertSame(fromMain[j]!, await runJob({ ...mainJobs[j]!, async: false }), `main job ${j}`);
    await Promise.all(ws.map((w) => w.finish()));
    return { workers: ws.length, compared: compared + mainJobs.length };
  },

  /** Workers terminated while a sync kernel loop runs, or with many async kernel calls in flight; 5 rounds. */
  async 'terminate-busy'() {
    const ref = await runJob(JOB(2, 3));
    for (let r = 0; r < 5; ++r) {
      const spinner = new W(),
        flooder = new W();
      const s = spinner.waitFor('spinning'),
        f = flooder.waitFor('flooding');
      spinner.w.postMessage({ cmd: 'spin' });
      flooder.w.postMessage({ cmd: 'flood', n: 24 });
      await Promise.all([s, f]);
      await new Promise((res) => setTimeout(res, 20 + 10 * r));
      await Promise.all([spinner.terminate(), flooder.terminate()]);
      gc();
      assertSame(await runJob(JOB(2, 3)), ref, `round ${r}: main thread after the terminations`);
    }
    return { rounds: 5 };
  },

  /** Many async calls in flight on many layers at once, in the main thread and in 2 workers. */
  async 'many-async'() {
    const L = 24;
    const plan = (k: number): Job => ({
      cfg: k % 4,
      seed: 100 + k,
      steps: 4,
      async: true,
      W: 4 + (k % 3) * 4,
      T: 8 + (k % 5),
    });
    const ws = [new W(), new W()];
    const workerJobs = ws.map((_, w) => Array.from({ length: 8 }, (_, k) => plan(1000 + 8 * w + k)));
    const [mainR, workerR] = await Promise.all([
      Promise.all(Array.from({ length: L }, (_, k) => runJob(plan(k)))),
      Promise.all(ws.map((w, k) => w.jobs(workerJobs[k]!))),
    ]);
    for (let k = 0; k < L; ++k) assertSame(mainR[k]!, await runJob({ ...plan(k), async: false }), `main layer ${k}`);
    for (let w = 0; w < ws.length; ++w)
      for (let k = 0; k < workerJobs[w]!.length; ++k)
        assertSame(workerR[w]![k]!, await runJob({ ...workerJobs[w]![k]!, async: false }), `worker ${w} layer ${k}`);
    await Promise.all(ws.map((w) => w.finish()));
    return { layers: L + 16 };
  },
};

function runScenario(name: string): void {
  const fn = SCENARIOS[name];
  if (!fn) {
    console.error(`unknown scenario ${name}`);
    process.exit(2);
  }
  fn().then(
    (info) => {
      log({ scenario: name, ok: true, ...info });
      process.exitCode = 0;
    },
    (e: unknown) => {
      console.error((e as Error)?.stack ?? String(e));
      process.exitCode = 1;
    },
  );
}

// ---- entry -----------------------------------------------------------------------------------------

interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}
function runChild(name: string, timeoutMs: number): Promise<ChildResult> {
  return new Promise((res) => {
    const t0 = performance.now();
    const p = spawn(process.execPath, ['--expose-gc', '--enable-source-maps', SELF], {
      env: { ...process.env, [SCENARIO_ENV]: name },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '',
      stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('close', (code, signal) => {
      clearTimeout(timer);
      res({ code, signal, stdout, stderr, ms: performance.now() - t0 });
    });
  });
}

if (!isMainThread && (workerData as { spikelayersWorker?: boolean } | null)?.spikelayersWorker) {
  workerMain();
} else if (isMainThread && process.env[SCENARIO_ENV]) {
  runScenario(process.env[SCENARIO_ENV]!);
} else if (isMainThread && typeof describe === 'function') {
  describe('worker_threads', function () {
    this.timeout(120000);
    const cases: [string, string][] = [
      [
        'worker-first',
        'the addon loads first in workers that end or are terminated (10 rounds), then in the main thread: results bit-identical',
      ],
      [
        'main-first',
        'the main thread keeps working, bit-identical, while workers load and unload the addon (10 rounds)',
      ],
      [
        'concurrent',
        '4 workers with sync and async loops at once, plus the main thread: all bit-identical to main-thread sync runs',
      ],
      [
        'terminate-busy',
        'terminating workers in a sync kernel loop or with async kernel calls in flight (5 rounds): no crash, main thread unaffected',
      ],
      [
        'many-async',
        '40 layers with async calls in flight at once in the main thread and 2 workers: bit-identical to sync runs',
      ],
    ];
    for (const [name, title] of cases) {
      it(`${title} [${name}]`, async function () {
        const r = await runChild(name, 100000);
        const tail = (s: string): string => s.split('\n').slice(-25).join('\n');
        const how = r.signal
          ? `was killed by ${r.signal}${r.signal === 'SIGKILL' ? ' (timeout?)' : ' (a crash in native code)'}`
          : `exited with code ${r.code}`;
        if (r.signal !== null || r.code !== 0)
          expect.fail(
            `scenario '${name}' ${how} after ${r.ms.toFixed(0)} ms\n--- stderr ---\n${tail(r.stderr)}\n--- stdout ---\n${tail(r.stdout)}\n(rerun: ${SCENARIO_ENV}=${name} node --expose-gc ${SELF})`,
          );
        const line = r.stdout.trim().split('\n').pop() ?? '';
        const info = JSON.parse(line) as { ok?: boolean };
        expect(info.ok).to.equal(true);
        console.log(`      ${name}: ${line} (${r.ms.toFixed(0)} ms)`);
      });
    }
  });
}
