// Streams over a layer: chunked streaming equals one call bit for bit (chunks of 1, 7, 50 and
// uneven sizes; with and without tauSyn), the async-iterator form equals too, eval mode, the
// backpressure bounds, bad chunks and layer failures as stream errors through pipeline(), clean
// destruction with a forward in flight, and the argument checks.
import { expect } from 'chai';
import { PassThrough, Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { LIF, SpikelayersError, Tensor, backendInfo, type LIFOptions } from '../lib/index.js';
import { layerIterate, layerStream, type StreamableLayer } from '../lib/stream.js';
import { uniform, prod } from './support/random.js';

// ---- helpers ----------------------------------------------------------------------------------

const values = (n: number, seed: number, lo = -0.5, hi = 2.5): Float32Array => uniform(seed, n, lo, hi);
const rand = (shape: number[], seed: number, device = 'cpu'): Tensor =>
  Tensor.from(values(prod(shape), seed), shape, { device });

/** Elements [t0, t1) along axis 1 of a (B, T, ...) tensor. */
function sliceT(x: Tensor, t0: number, t1: number): Tensor {
  const [B, T, ...n] = x.shape as [number, number, ...number[]];
  const N = prod(n);
  const d = x.toFloat32Array();
  const r = new Float32Array(B * (t1 - t0) * N);
  for (let b = 0; b < B; ++b) r.set(d.subarray((b * T + t0) * N, (b * T + t1) * N), b * (t1 - t0) * N);
  return Tensor.from(r, [B, t1 - t0, ...n], { device: x.device });
}
/** Concatenation along axis 1. */
function catT(parts: Tensor[]): Tensor {
  const [B, , ...n] = parts[0]!.shape as [number, number, ...number[]];
  const N = prod(n);
  const T = parts.reduce((a, p) => a + p.shape[1]!, 0);
  const r = new Float32Array(B * T * N);
  let t0 = 0;
  for (const p of parts) {
    const Tp = p.shape[1]!;
    const d = p.toFloat32Array();
    for (let b = 0; b < B; ++b) r.set(d.subarray(b * Tp * N, (b + 1) * Tp * N), (b * T + t0) * N);
    t0 += Tp;
  }
  return Tensor.from(r, [B, T, ...n]);
}
/** Splits a (B, T, ...) tensor along time into chunks of the given sizes (the sizes must add up to T). */
function split(x: Tensor, sizes: number[]): Tensor[] {
  expect(sizes.reduce((a, b) => a + b, 0)).to.equal(x.shape[1]);
  const out: Tensor[] = [];
  let t = 0;
  for (const s of sizes) {
    out.push(sliceT(x, t, t + s));
    t += s;
  }
  return out;
}
const sizesOf = (T: number, c: number): number[] => [
  ...Array<number>(Math.floor(T / c)).fill(c),
  ...(T % c ? [T % c] : []),
];

function expectBits(a: Tensor | null | undefined, b: Tensor | null | undefined, what: string): void {
  expect(a, `${what}: present`).to.be.instanceOf(Tensor);
  expect(b, `${what}: present`).to.be.instanceOf(Tensor);
  expect(a!.shape, `${what}: shape`).to.deep.equal(b!.shape);
  const x = new Uint32Array(a!.toFloat32Array().buffer),
    y = new Uint32Array(b!.toFloat32Array().buffer);
  for (let k = 0; k < x.length; ++k)
    if (x[k] !== y[k])
      expect.fail(`${what}: element ${k} differs (${a!.toFloat32Array()[k]} vs ${b!.toFloat32Array()[k]})`);
}

/** Runs chunks through layerStream inside pipeline() and collects the outputs. */
async function streamAll(
  layer: StreamableLayer,
  chunks: unknown[],
  options?: Parameters<typeof layerStream>[1],
): Promise<Tensor[]> {
  const outs: Tensor[] = [];
  await pipeline(Readable.from(chunks), layerStream(layer, options), async (src: AsyncIterable<Tensor>) => {
    for await (const t of src) outs.push(t);
  });
  return outs;
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection');
}

const B = 2,
  T = 200,
  NEURONS = [3, 4];
const configs: [string, LIFOptions][] = [
  [
    'LIF with tauSyn (per-neuron tauMem, minVMem)',
    { tauMem: Tensor.from([4, 9, 17, 30], [4]), tauSyn: 5, minVMem: -0.4 },
  ],
  ['LIF without tauSyn', { tauMem: 10 }],
];
const schedules: [string, number[]][] = [
  ['chunks of 1', sizesOf(T, 1)],
  ['chunks of 7', sizesOf(T, 7)],
  ['chunks of 50', sizesOf(T, 50)],
  ['uneven chunks', [13, 1, 60, 2, 99, 25]],
];

/** A layer wrapper that counts forwards started and can slow them down or fail them. */
class Probe implements StreamableLayer {
  started = 0;
  evalCalls = 0;
  constructor(
    readonly inner: LIF,
    readonly opts: { delayMs?: number; failAt?: number } = {},
  ) {}
  async forwardAsync(x: Tensor): Promise<Tensor> {
    const k = this.started++;
    if (this.opts.delayMs) await sleep(this.opts.delayMs);
    if (k === this.opts.failAt) throw new RangeError(`probe: forward ${k} failed`);
    return this.inner.forwardAsync(x);
  }
  eval(): this {
    this.evalCalls++;
    this.inner.eval();
    return this;
  }
}

// ---- equality with one call -----------------------------------------------------------------------

describe('layerStream / layerIterate', () => {
  for (const [cname, opts] of configs) {
    describe(`chunked streaming equals one call bit for bit: ${cname}`, () => {
      const x = rand([B, T, ...NEURONS], 42);
      let whole: Tensor, wholeV: Tensor, wholeI: Tensor | null;
      before(() => {
        const ref = new LIF({ ...opts, recordStates: false }).eval();
        whole = ref.forward(x);
        wholeV = ref.vMem!;
        wholeI = ref.iSyn;
        expect(
          whole.toArray().some((s) => s > 0),
          'the input makes spikes',
        ).to.equal(true);
        expect(
          whole.toArray().some((s) => s === 0),
          'and silences',
        ).to.equal(true);
      });

      for (const [sname, sizes] of schedules) {
        it(`layerStream in pipeline(), ${sname}`, async () => {
          const lif = new LIF({ ...opts, recordStates: false });
          const outs = await streamAll(lif, split(x, sizes));
          expect(outs.map((o) => o.shape[1])).to.deep.equal(sizes);
          expectBits(catT(outs), whole, 'spikes');
          expectBits(lif.vMem, wholeV, 'final v_mem');
          if (wholeI) expectBits(lif.iSyn, wholeI, 'final i_syn');
          expect(lif.training, 'eval mode by default').to.equal(false);
          expect(lif.pendingCalls).to.equal(0);
        });

        it(`layerIterate over an array and over an async generator, ${sname}`, async () => {
          const chunks = split(x, sizes);
          const viaArray = new LIF({ ...opts });
          const outsA: Tensor[] = [];
          for await (const o of layerIterate(viaArray, chunks)) outsA.push(o);
          expectBits(catT(outsA), whole, 'array source');

          const viaGen = new LIF({ ...opts });
          async function* gen(): AsyncGenerator<Tensor> {
            for (const c of chunks) {
              await sleep(0);
              yield c;
            }
          }
          const outsG: Tensor[] = [];
          for await (const o of layerIterate(viaGen, gen())) outsG.push(o);
          expectBits(catT(outsG), whole, 'async generator source');
          expectBits(viaGen.vMem, wholeV, 'final v_mem');
        });
      }
    });
  }

  it('continues from the state the layer already holds (a stream after a direct call)', async () => {
    const opts: LIFOptions = { tauMem: 8, tauSyn: 3 };
    const x = rand([1, 120, 5], 7);
    const whole = new LIF(opts).forward(x);
    const lif = new LIF(opts);
    const first = lif.forward(sliceT(x, 0, 30));
    const rest = await streamAll(lif, split(sliceT(x, 30, 120), [40, 50]));
    expectBits(catT([first, ...rest]), whole, 'spikes');
  });

  it('a Readable in object mode as layerIterate source; a chunk with T = 0 is dropped', async () => {
    const x = rand([1, 60, 4], 3);
    const whole = new LIF({ tauMem: 6 }).forward(x);
    const chunks = [sliceT(x, 0, 20), Tensor.zeros([1, 0, 4]), sliceT(x, 20, 60)];
    const outs: Tensor[] = [];
    for await (const o of layerIterate(new LIF({ tauMem: 6 }), Readable.from(chunks))) outs.push(o);
    expect(outs.length).to.equal(2);
    expectBits(catT(outs), whole, 'spikes');
    const viaStream = await streamAll(new LIF({ tauMem: 6 }), chunks);
    expect(viaStream.map((o) => o.shape)).to.deep.equal([
      [1, 20, 4],
      [1, 40, 4],
    ]);
  });

  it('inputs are left untouched, and outputs are new tensors', async () => {
    const chunks = split(rand([1, 30, 3], 5), [10, 20]);
    const before = chunks.map((c) => c.toArray());
    const outs = await streamAll(new LIF({ tauMem: 5 }), chunks);
    chunks.forEach((c, k) => expect(c.toArray()).to.deep.equal(before[k]));
    expect(outs.every((o, k) => o !== chunks[k])).to.equal(true);
  });

  // ---- eval option ----------------------------------------------------------------------------

  it('eval: true (the default) switches the layer to eval mode at creation; eval: false leaves it training', async () => {
    const a = new LIF({ tauMem: 5 });
    expect(a.training).to.equal(true);
    const s = layerStream(a);
    expect(a.training).to.equal(false);
    s.destroy();

    const b = new LIF({ tauMem: 5 });
    const chunks = split(rand([1, 30, 3], 9), [10, 10, 10]);
    await streamAll(b, chunks, { eval: false });
    expect(b.training).to.equal(true);
    expect(b.pendingCalls, 'every chunk stays pending for a backward').to.equal(3);

    const c = new LIF({ tauMem: 5 }).eval();
    layerIterate(c, [], { eval: false });
    expect(c.training, 'eval: false does not switch to training either').to.equal(false);
    const d = new LIF({ tauMem: 5 });
    layerIterate(d, []);
    expect(d.training).to.equal(false);
  });

  // ---- backpressure ---------------------------------------------------------------------------

  for (const hwm of [undefined, 1, 2]) {
    it(`backpressure (highWaterMark ${hwm ?? 'default 4'}): write() returns false, the layer runs at most highWaterMark + 1 chunks ahead of a slow reader`, async () => {
      const limit = hwm ?? 4;
      const probe = new Probe(new LIF({ tauMem: 5 }));
      const stream = layerStream(probe, hwm === undefined ? undefined : { highWaterMark: hwm });
      expect(stream.writableHighWaterMark).to.equal(limit);
      expect(stream.readableHighWaterMark).to.equal(limit);
      const total = 40;
      let writesRefused = 0,
        written = 0,
        consumed = 0,
        maxAhead = 0,
        maxWrittenAhead = 0;

      const producer = (async () => {
        for (let k = 0; k < total; ++k) {
          written++;
          maxWrittenAhead = Math.max(maxWrittenAhead, written - consumed);
          if (!stream.write(rand([1, 5, 3], k))) {
            writesRefused++;
            await new Promise((r) => stream.once('drain', r));
          }
        }
        stream.end();
      })();
      for await (const _out of stream) {
        consumed++;
        maxAhead = Math.max(maxAhead, probe.started - consumed);
        await sleep(2); // a slow reader
        maxAhead = Math.max(maxAhead, probe.started - consumed);
      }
      await producer;
      expect(consumed).to.equal(total);
      expect(writesRefused, 'write() returned false').to.be.greaterThan(0);
      expect(maxAhead, 'forwards started but not yet read').to.be.at.most(limit + 1);
      expect(maxAhead, 'the layer does run ahead of the reader').to.be.at.least(Math.min(limit, 2));
      // what a producer that waits for 'drain' has handed over but the reader has not read yet:
      // at most the writable buffer, the readable buffer and the chunk in the layer
      expect(maxWrittenAhead).to.be.at.most(2 * limit + 1);
    });
  }

  it('layerIterate pulls one chunk per output (nothing runs ahead)', async () => {
    const probe = new Probe(new LIF({ tauMem: 5 }));
    let pulled = 0;
    function* src(): Generator<Tensor> {
      for (let k = 0; k < 10; ++k) {
        pulled++;
        yield rand([1, 4, 2], k);
      }
    }
    let read = 0;
    for await (const _o of layerIterate(probe, src())) {
      read++;
      expect(pulled).to.equal(read);
      expect(probe.started).to.equal(read);
      await sleep(1);
    }
    expect(read).to.equal(10);
  });

  // ---- errors ---------------------------------------------------------------------------------

  describe('errors', () => {
    const good = (seed: number, shape = [1, 10, 8]): Tensor => rand(shape, seed);
    const badChunks: [string, () => unknown[], typeof Error, RegExp][] = [
      [
        'not a Tensor',
        () => [good(1), 'frame', good(2)],
        TypeError,
        /^layerStream: chunk 1 must be a Tensor, got string$/,
      ],
      [
        'a Float32Array',
        () => [new Float32Array(8)],
        TypeError,
        /^layerStream: chunk 0 must be a Tensor, got Float32Array$/,
      ],
      [
        'rank 1',
        () => [good(1), Tensor.zeros([8])],
        RangeError,
        /^layerStream: chunk 1 must have rank >= 2, \(B, T, \.\.\.neurons\); got shape \[8\]$/,
      ],
      [
        'another neuron shape',
        () => [good(1), good(2), good(3, [1, 10, 9])],
        RangeError,
        /^layerStream: chunk 2 has neuron shape \[9\] \(shape \[1, 10, 9\]\), but the stream's first chunk had \[8\]: every chunk must have shape \[1, T, 8\], only T may change$/,
      ],
      [
        'another neuron rank',
        () => [good(1), good(2, [1, 10, 2, 4])],
        RangeError,
        /chunk 1 has neuron shape \[2, 4\] .* had \[8\]/,
      ],
      [
        'another batch size',
        () => [good(1), good(2, [2, 10, 8])],
        RangeError,
        /^layerStream: chunk 1 has batch size 2 \(shape \[2, 10, 8\]\), but the stream's first chunk had 1: every chunk must have shape \[1, T, 8\], only T may change$/,
      ],
      [
        'a zero batch first',
        () => [Tensor.zeros([0, 10, 8])],
        RangeError,
        /chunk 0 has shape \[0, 10, 8\]: the batch size and neuron dimensions must be >= 1/,
      ],
    ];
    for (const [name, chunks, cls, re] of badChunks) {
      it(`${name}: pipeline() rejects with a ${cls.name}, after the good chunks before it were emitted`, async () => {
        const lif = new LIF({ tauMem: 5 });
        const seen: Tensor[] = [];
        const sink = new Writable({
          objectMode: true,
          write(t: Tensor, _e, cb) {
            seen.push(t);
            cb();
          },
        });
        const src = Readable.from(chunks());
        const err = await rejection(pipeline(src, layerStream(lif), sink));
        expect(err).to.be.instanceOf(cls);
        expect(err.message).to.match(re);
        expect(src.destroyed && sink.destroyed, 'the other streams are destroyed').to.equal(true);
        const index = Number(/chunk (\d+)/.exec(err.message)![1]);
        expect(seen.length).to.equal(index);
        expect(() => lif.forward(good(9)), 'the layer is idle').to.not.throw();
      });
    }

    it('a disposed chunk: SpikelayersError ERR_TENSOR_DISPOSED', async () => {
      const t = good(1);
      t.dispose();
      const err = await rejection(streamAll(new LIF({ tauMem: 5 }), [good(2), t]));
      expect(err).to.be.instanceOf(SpikelayersError);
      expect((err as SpikelayersError).code).to.equal('ERR_TENSOR_DISPOSED');
      expect(err.message).to.match(/layerStream: chunk 1 was disposed/);
    });

    it("the layer's own errors (a rejected forwardAsync) reject the pipeline", async () => {
      const probe = new Probe(new LIF({ tauMem: 5 }), { failAt: 2 });
      const err = await rejection(streamAll(probe, [good(1), good(2), good(3), good(4)]));
      expect(err).to.be.instanceOf(RangeError);
      expect(err.message).to.equal('probe: forward 2 failed');
      expect(probe.started).to.equal(3);
      // a LIF's own rejection passes through unchanged
      const lif = new LIF({ tauMem: 5 });
      const e2 = await rejection(
        streamAll(
          { forwardAsync: (x: Tensor) => lif.forwardAsync(x, { out: Tensor.zeros([1]) }), eval: () => lif.eval() },
          [good(1)],
        ),
      );
      expect(e2).to.be.instanceOf(RangeError);
      expect(e2.message).to.match(/forwardAsync: out must have the input's shape/);
    });

    it('layerIterate: bad chunks and layer errors reject next(); arguments are checked at once', async () => {
      const it1 = layerIterate(new LIF({ tauMem: 5 }), [good(1), 42 as unknown as Tensor]);
      expect((await it1.next()).done).to.equal(false);
      const err = await rejection(it1.next());
      expect(err).to.be.instanceOf(TypeError);
      expect(err.message).to.equal('layerIterate: chunk 1 must be a Tensor, got number');

      const it2 = layerIterate(new LIF({ tauMem: 5 }), [good(1), good(2, [1, 3, 7])]);
      await it2.next();
      expect((await rejection(it2.next())).message).to.match(/^layerIterate: chunk 1 has neuron shape \[7\]/);

      expect(() => layerIterate(new LIF({ tauMem: 5 }), 5 as unknown as Tensor[])).to.throw(
        TypeError,
        'layerIterate: source must be an iterable or async iterable of Tensors, got number',
      );
      expect(() => layerIterate(new LIF({ tauMem: 5 }), null as unknown as Tensor[])).to.throw(TypeError, /got null/);
      expect(() => layerIterate({} as StreamableLayer, [])).to.throw(
        TypeError,
        'layerIterate: layer must have forwardAsync() and eval() methods (a layer such as a LIF), got Object',
      );
      expect(() => layerIterate(new LIF({ tauMem: 5 }), [], { highWaterMark: 2 } as object)).to.throw(
        TypeError,
        "layerIterate: unknown option 'highWaterMark' (expected 'eval')",
      );
    });

    it('layerIterate: breaking out of the loop closes the source', async () => {
      const src = Readable.from([good(1), good(2), good(3), good(4)]);
      for await (const _o of layerIterate(new LIF({ tauMem: 5 }), src)) break;
      expect(src.destroyed).to.equal(true);
    });

    it('bad arguments of layerStream throw at once', () => {
      const lif = new LIF({ tauMem: 5 });
      expect(() => layerStream(null as unknown as StreamableLayer)).to.throw(
        TypeError,
        'layerStream: layer must be a layer such as a LIF, got null',
      );
      expect(() => layerStream({ forwardAsync() {} } as unknown as StreamableLayer)).to.throw(
        TypeError,
        /must have forwardAsync\(\) and eval\(\) methods/,
      );
      expect(() => layerStream(lif, { highWaterMark: 0 })).to.throw(
        RangeError,
        'layerStream: highWaterMark must be a positive integer, got 0',
      );
      expect(() => layerStream(lif, { highWaterMark: 2.5 })).to.throw(RangeError, /got 2\.5/);
      expect(() => layerStream(lif, { highWaterMark: Infinity })).to.throw(RangeError, /got Infinity/);
      expect(() => layerStream(lif, { highWaterMark: '4' as unknown as number })).to.throw(
        TypeError,
        'layerStream: highWaterMark must be a positive integer, got string',
      );
      expect(() => layerStream(lif, { eval: 1 as unknown as boolean })).to.throw(
        TypeError,
        'layerStream: eval must be a boolean, got number',
      );
      expect(() => layerStream(lif, { objectMode: false } as object)).to.throw(
        TypeError,
        "layerStream: unknown option 'objectMode' (expected 'highWaterMark', 'eval')",
      );
      expect(() => layerStream(lif, 4 as unknown as object)).to.throw(TypeError, /options must be an object/);
      expect(lif.training, 'nothing changed on a failed call').to.equal(true);
    });
  });

  // ---- destruction ----------------------------------------------------------------------------

  describe('destruction', () => {
    it('destroy() with a forward in flight: closes once the layer is idle, emits nothing more, no error', async () => {
      const probe = new Probe(new LIF({ tauMem: 5 }), { delayMs: 30 });
      const s = layerStream(probe);
      const errors: unknown[] = [];
      let outputs = 0;
      s.on('error', (e) => errors.push(e));
      s.on('data', () => outputs++);
      s.write(rand([1, 10, 4], 1));
      await sleep(5);
      expect(probe.started).to.equal(1);
      const closed = new Promise((r) => s.once('close', r));
      s.destroy();
      await closed;
      // 'close' came after the forward settled: the layer is idle again
      expect(() => probe.inner.forward(rand([1, 10, 4], 2))).to.not.throw();
      await sleep(40);
      expect(outputs).to.equal(0);
      expect(errors).to.deep.equal([]);
    });

    it('destroy(err) rejects pipeline() with that error, and the layer is idle when it settles', async () => {
      const probe = new Probe(new LIF({ tauMem: 5 }), { delayMs: 20 });
      const s = layerStream(probe);
      const src = new PassThrough({ objectMode: true });
      const done = pipeline(src, s, new Writable({ objectMode: true, write: (_t, _e, cb) => cb() }));
      src.write(rand([1, 10, 4], 1));
      await sleep(5);
      s.destroy(new Error('stop'));
      const err = await rejection(done);
      expect(err.message).to.equal('stop');
      expect(() => probe.inner.forward(rand([1, 10, 4], 2)), 'no ERR_LAYER_BUSY').to.not.throw();
    });

    it('a reader that stops early (break in for await) destroys the stream without errors', async () => {
      const lif = new LIF({ tauMem: 5 });
      const s = layerStream(lif);
      const src = Readable.from(Array.from({ length: 20 }, (_, k) => rand([1, 5, 2], k)));
      src.pipe(s);
      let n = 0;
      for await (const _o of s) if (++n === 3) break;
      expect(s.destroyed).to.equal(true);
      await new Promise((r) => setImmediate(r));
      await sleep(5);
      expect(() => lif.forward(rand([1, 5, 2], 99))).to.not.throw();
    });
  });

  // ---- CUDA ------------------------------------------------------------------------------------

  it('on CUDA (where usable): chunked streaming equals one call', async function () {
    const cuda = backendInfo().cuda;
    if (!cuda.available) {
      this.skip();
      return;
    }
    const opts: LIFOptions = { tauMem: 12, tauSyn: 4, device: 'cuda' };
    const x = rand([2, 90, 6], 17, 'cuda');
    const whole = new LIF(opts).forward(x);
    const outs = await streamAll(new LIF(opts), split(x, [1, 30, 59]));
    expect(outs.every((o) => o.device === whole.device)).to.equal(true);
    expectBits(catT(outs), whole, 'spikes');
  });
});

describe('layer.stream() / layer.iterate()', function () {
  it('the layer methods equal layerStream / layerIterate', async function () {
    const x = Float32Array.from({ length: 2 * 30 * 5 }, (_, k) => ((k * 7919) % 13) / 6);
    const whole = new LIF({ tauMem: 6, tauSyn: 3 }).forward(Tensor.from(x, [2, 30, 5])).toFloat32Array();
    const chunks = (): Tensor[] =>
      [0, 10, 20].map((t0) => {
        const c = new Float32Array(2 * 10 * 5);
        for (let b = 0; b < 2; ++b) c.set(x.subarray((b * 30 + t0) * 5, (b * 30 + t0 + 10) * 5), b * 50);
        return Tensor.from(c, [2, 10, 5]);
      });
    const gather = (outs: Float32Array[]): Float32Array => {
      const y = new Float32Array(2 * 30 * 5);
      outs.forEach((o, k) => {
        for (let b = 0; b < 2; ++b) y.set(o.subarray(b * 50, (b + 1) * 50), (b * 30 + k * 10) * 5);
      });
      return y;
    };
    const viaStream: Float32Array[] = [];
    await pipeline(
      Readable.from(chunks()),
      new LIF({ tauMem: 6, tauSyn: 3 }).stream(),
      new Writable({
        objectMode: true,
        write(t: Tensor, _e, cb) {
          viaStream.push(t.toFloat32Array());
          cb();
        },
      }),
    );
    const viaIter: Float32Array[] = [];
    for await (const t of new LIF({ tauMem: 6, tauSyn: 3 }).iterate(chunks())) viaIter.push(t.toFloat32Array());
    expect(Array.from(gather(viaStream))).to.deep.equal(Array.from(whole));
    expect(Array.from(gather(viaIter))).to.deep.equal(Array.from(whole));
  });
});
