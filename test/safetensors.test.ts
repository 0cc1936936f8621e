// safetensors files: the writer's bytes against hand-made files and the reference writer's own test
// vectors, round trips (0-d, empty, special values, metadata, odd names), decoding of hand-made
// F16 / BF16 / F64 / U8 / mixed files (read as float32 or kept in their dtype), files of each
// dtype written in the reference writer's order, every malformed-file case with its error class and message, and
// a LIF stateDict saved to a file and loaded into a new LIF.
import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LIF, SpikelayersError, Tensor } from '../lib/index.js';
import {
  decodeSafetensors,
  encodeSafetensors,
  loadSafetensors,
  parseSafetensors,
  saveSafetensors,
} from '../lib/safetensors.js';
import { uniform, prod } from './support/random.js';

// ---- helpers ----------------------------------------------------------------------------------

const values = (n: number, seed: number, lo = -3, hi = 3): Float32Array => uniform(seed, n, lo, hi);
const rand = (shape: number[], seed: number): Tensor => Tensor.from(values(prod(shape), seed), shape);
const bitsOf = (a: Float32Array): number[] => Array.from(new Uint32Array(a.slice().buffer));

function expectBits(a: Tensor | undefined, b: Tensor | undefined, what: string): void {
  expect(a, `${what}: present`).to.be.instanceOf(Tensor);
  expect(b, `${what}: present`).to.be.instanceOf(Tensor);
  expect(a!.shape, `${what}: shape`).to.deep.equal(b!.shape);
  expect(bitsOf(a!.toFloat32Array()), `${what}: bits`).to.deep.equal(bitsOf(b!.toFloat32Array()));
}

const ascii = (s: string): number[] => Array.from(new TextEncoder().encode(s));
const u64 = (n: number | bigint): number[] => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(n), true);
  return Array.from(b);
};

/** A file from a header (a string, or an object to JSON-encode) and data bytes, padded like the reference writer. */
function file(
  header: string | object,
  data: ArrayLike<number> = [],
  opts: { pad?: boolean; length?: number | bigint } = {},
): Uint8Array {
  let h = ascii(typeof header === 'string' ? header : JSON.stringify(header));
  if (opts.pad ?? true) while (h.length % 8) h = h.concat([0x20]);
  return Uint8Array.from([...u64(opts.length ?? h.length), ...h, ...Array.from(data)]);
}
/** Little-endian bytes of values written with a DataView setter. */
function le(kind: 'f32' | 'f64' | 'u16', vals: number[]): number[] {
  const size = kind === 'f64' ? 8 : kind === 'f32' ? 4 : 2;
  const b = new Uint8Array(vals.length * size);
  const v = new DataView(b.buffer);
  vals.forEach((x, k) =>
    kind === 'f64'
      ? v.setFloat64(k * 8, x, true)
      : kind === 'f32'
        ? v.setFloat32(k * 4, x, true)
        : v.setUint16(k * 2, x, true),
  );
  return Array.from(b);
}

function expectThrow(fn: () => unknown, cls: typeof TypeError | typeof RangeError, re: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught, 'an error was thrown').to.be.instanceOf(Error);
  expect((caught as Error).constructor, `error class of: ${(caught as Error).message}`).to.equal(cls);
  expect((caught as Error).message).to.match(re);
}

describe('safetensors', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'spikelayers-st-'));
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  // ---- writing ------------------------------------------------------------------------------------

  describe('the bytes written', () => {
    it('a tiny dict with metadata, a 0-d scalar and an empty tensor, byte by byte', () => {
      const bytes = encodeSafetensors(
        { w: Tensor.from([1.5, -2], [2]), b: Tensor.scalar(0.25), e: Tensor.zeros([0]) },
        { format: 'pt' },
      );
      const json =
        '{"__metadata__":{"format":"pt"},' +
        '"b":{"dtype":"F32","shape":[],"data_offsets":[0,4]},' +
        '"e":{"dtype":"F32","shape":[0],"data_offsets":[4,4]},' +
        '"w":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}';
      expect(json.length).to.equal(191);
      const expected = [
        192,
        0,
        0,
        0,
        0,
        0,
        0,
        0, // header length: 191 bytes of JSON + 1 space of padding
        ...ascii(json),
        0x20,
        0x00,
        0x00,
        0x80,
        0x3e, // b = 0.25
        0x00,
        0x00,
        0xc0,
        0x3f,
        0x00,
        0x00,
        0x00,
        0xc0, // w = [1.5, -2]
      ];
      expect(Array.from(bytes)).to.deep.equal(expected);
    });

    it("matches the reference writer's test vectors (serialize, forced alignment, empty, metadata only)", () => {
      // from huggingface/safetensors, safetensors/src/tensor.rs: test_serialization
      expect(Array.from(encodeSafetensors({ 'attn.0': Tensor.from([0, 1, 2, 3, 4, 5], [1, 2, 3]) }))).to.deep.equal([
        64, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 46, 48, 34, 58, 123, 34, 100, 116, 121, 112, 101, 34, 58,
        34, 70, 51, 50, 34, 44, 34, 115, 104, 97, 112, 101, 34, 58, 91, 49, 44, 50, 44, 51, 93, 44, 34, 100, 97, 116,
        97, 95, 111, 102, 102, 115, 101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93, 125, 125, 0, 0, 0, 0, 0, 0, 128, 63,
        0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0, 160, 64,
      ]);
      // test_serialization_forced_alignement
      expect(Array.from(encodeSafetensors({ attn0: Tensor.from([0, 1, 2, 3, 4, 5], [1, 1, 2, 3]) }))).to.deep.equal([
        72, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 48, 34, 58, 123, 34, 100, 116, 121, 112, 101, 34, 58, 34,
        70, 51, 50, 34, 44, 34, 115, 104, 97, 112, 101, 34, 58, 91, 49, 44, 49, 44, 50, 44, 51, 93, 44, 34, 100, 97,
        116, 97, 95, 111, 102, 102, 115, 101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93, 125, 125, 32, 32, 32, 32, 32,
        32, 32, 0, 0, 0, 0, 0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0, 160, 64,
      ]);
      // test_empty
      expect(Array.from(encodeSafetensors({}))).to.deep.equal([
        8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32,
      ]);
      expect(Array.from(encodeSafetensors({}, { framework: 'pt' }))).to.deep.equal([
        40, 0, 0, 0, 0, 0, 0, 0, 123, 34, 95, 95, 109, 101, 116, 97, 100, 97, 116, 97, 95, 95, 34, 58, 123, 34, 102,
        114, 97, 109, 101, 119, 111, 114, 107, 34, 58, 34, 112, 116, 34, 125, 125, 32, 32, 32, 32, 32,
      ]);
    });

    it('orders tensors by name as UTF-8 bytes (not UTF-16 code units), as the reference writer does', () => {
      // UTF-16 order: 'é' (00E9) < '😀' (D83D ...) < 'ｚ' (FF5A); UTF-8 order: C3 < EF (ｚ) < F0 (😀)
      const bytes = encodeSafetensors({
        ｚ: Tensor.scalar(2),
        '😀': Tensor.scalar(3),
        é: Tensor.scalar(1),
        Z: Tensor.scalar(0),
      });
      const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
      const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Record<
        string,
        { data_offsets: number[] }
      >;
      expect(Object.keys(header)).to.deep.equal(['Z', 'é', 'ｚ', '😀']);
      expect(Object.values(header).map((h) => h.data_offsets)).to.deep.equal([
        [0, 4],
        [4, 8],
        [8, 12],
        [12, 16],
      ]);
      expect(decodeSafetensors(bytes)['😀']!.item()).to.equal(3);
    });

    it('the header is padded with spaces so that the data starts at a multiple of 8', () => {
      for (let len = 1; len <= 12; ++len) {
        const bytes = encodeSafetensors({ ['x'.repeat(len)]: Tensor.scalar(1) });
        const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
        expect(n % 8, `name length ${len}`).to.equal(0);
        expect(bytes[8 + n - 1] === 0x7d || bytes[8 + n - 1] === 0x20).to.equal(true);
        expect(bytes.length).to.equal(8 + n + 4);
      }
    });

    it('rejects bad arguments with TypeError (and a disposed tensor with ERR_TENSOR_DISPOSED)', () => {
      const bad: [unknown, unknown, RegExp][] = [
        [null, undefined, /tensors must be an object mapping names to Tensors, got null/],
        [[Tensor.scalar(1)], undefined, /got an array/],
        [Tensor.scalar(1), undefined, /got Tensor/],
        [{ a: [1, 2] }, undefined, /tensors\['a'\] must be a Tensor, got an array/],
        [{ __metadata__: Tensor.scalar(1) }, undefined, /'__metadata__' is reserved/],
        [{ a: Tensor.scalar(1) }, { n: 1 }, /metadata\['n'\] must be a string, got number/],
        [{ a: Tensor.scalar(1) }, 'pt', /metadata must be an object of strings, got string/],
        [{ 'a\ud800': Tensor.scalar(1) }, undefined, /not well-formed Unicode/],
        [{ a: Tensor.scalar(1) }, { k: 'v\udc00' }, /metadata\['k'\] is not well-formed Unicode/],
      ];
      for (const [t, m, re] of bad)
        expectThrow(() => encodeSafetensors(t as Record<string, Tensor>, m as Record<string, string>), TypeError, re);
      const d = Tensor.scalar(1);
      d.dispose();
      expect(() => encodeSafetensors({ d }))
        .to.throw(SpikelayersError)
        .with.property('code', 'ERR_TENSOR_DISPOSED');
    });
  });

  // ---- round trips -------------------------------------------------------------------------------

  describe('round trips', () => {
    const special = Tensor.from(
      new Float32Array(
        new Uint32Array([
          0x7fc00000, 0x7fa00001, 0xffc12345, 0x7f800000, 0xff800000, 0x80000000, 0x00000001, 0x7f7fffff,
        ]).buffer,
      ),
      [2, 4],
    );
    const dict = (): Record<string, Tensor> => ({
      'layer.0.tau_mem': rand([16], 1),
      'layer.0.v_mem': rand([3, 4, 5], 2),
      scalar: Tensor.scalar(-0.125),
      empty: Tensor.zeros([0]),
      empty3: Tensor.zeros([2, 0, 3]),
      special,
      __proto__name: rand([1], 3),
    });

    function check(got: Record<string, Tensor>, want: Record<string, Tensor>): void {
      expect(Object.keys(got).sort()).to.deep.equal(Object.keys(want).sort());
      for (const k of Object.keys(want)) expectBits(got[k], want[k], k);
    }

    it('in memory: every tensor bit for bit (NaN payloads, ±Inf, -0, subnormals), 0-d and empty shapes, metadata', () => {
      const want = dict();
      const meta = { format: 'pt', note: 'tau in steps; ünïcødé ✓ "quoted" \\ \n', '': 'empty key' };
      const bytes = encodeSafetensors(want, meta);
      const got = parseSafetensors(bytes);
      check(got.tensors, want);
      expect(got.metadata).to.deep.equal(meta);
      expect(Object.values(got.dtypes).every((d) => d === 'F32')).to.equal(true);
      // offsets order = name order
      expect(Object.keys(got.tensors)).to.deep.equal(Object.keys(want).sort());
      // without metadata: null; ArrayBuffer input; a Buffer that is a view into a larger pool
      expect(parseSafetensors(encodeSafetensors(want)).metadata).to.equal(null);
      check(decodeSafetensors(bytes.slice().buffer), want);
      const pooled = Buffer.concat([Buffer.alloc(3), Buffer.from(bytes)]).subarray(3);
      check(decodeSafetensors(pooled), want);
    });

    it("a tensor named '__proto__' is an own property (no prototype change)", () => {
      const src: Record<string, Tensor> = {};
      Object.defineProperty(src, '__proto__', { value: Tensor.scalar(7), enumerable: true });
      const got = decodeSafetensors(encodeSafetensors(src));
      expect(Object.keys(got)).to.deep.equal(['__proto__']);
      expect(Object.getPrototypeOf(got)).to.equal(Object.prototype);
      expect(Object.getOwnPropertyDescriptor(got, '__proto__')!.value.item()).to.equal(7);
    });

    it('through a file: saveSafetensors then loadSafetensors', () => {
      const want = dict();
      const path = join(dir, 'roundtrip.safetensors');
      saveSafetensors(path, want, { format: 'pt' });
      check(loadSafetensors(path), want);
      // a second save replaces the file
      saveSafetensors(path, { only: Tensor.scalar(1) });
      expect(Object.keys(loadSafetensors(path))).to.deep.equal(['only']);
    });

    it('random dicts of random shapes, repeatedly', () => {
      for (let trial = 0; trial < 30; ++trial) {
        const r = values(20, 100 + trial, 0, 1);
        const want: Record<string, Tensor> = {};
        const count = Math.floor(r[0]! * 6);
        for (let k = 0; k < count; ++k) {
          const rank = Math.floor(r[1 + k]! * 4);
          const shape = Array.from({ length: rank }, (_, q) => Math.floor(values(1, trial * 31 + k * 7 + q, 0, 5)[0]!));
          want[`t${k}.${rank}`] = rand(shape, trial * 1000 + k);
        }
        check(decodeSafetensors(encodeSafetensors(want)), want);
      }
    });
  });

  // ---- reading hand-made files --------------------------------------------------------------------

  describe('hand-made files of other dtypes', () => {
    it('F16 is decoded exactly: 1, -2.5, 65504, subnormals, ±0, ±Inf, NaN', () => {
      const halves = [
        0x3c00, 0xc100, 0x7bff, 0x0001, 0x03ff, 0x8001, 0x0000, 0x8000, 0x7c00, 0xfc00, 0x3554, 0x0400, 0x7e00,
      ];
      const want = [
        1,
        -2.5,
        65504,
        2 ** -24,
        1023 * 2 ** -24,
        -(2 ** -24),
        0,
        -0,
        Infinity,
        -Infinity,
        0.3330078125,
        2 ** -14,
      ];
      const bytes = file(
        { h: { dtype: 'F16', shape: [halves.length], data_offsets: [0, halves.length * 2] } },
        le('u16', halves),
      );
      const got = parseSafetensors(bytes);
      expect(got.dtypes).to.deep.equal({ h: 'F16' });
      const a = got.tensors.h!.toFloat32Array();
      want.forEach((w, k) => expect(Object.is(a[k], w), `element ${k}: ${a[k]} vs ${w}`).to.equal(true));
      expect(bitsOf(a)[12]).to.equal(0x7fc00000); // the quiet NaN, payload carried over
    });

    it('every one of the 65536 halves decodes to the float32 of the same value', () => {
      const all = Array.from({ length: 65536 }, (_, k) => k);
      const a = decodeSafetensors(
        file({ h: { dtype: 'F16', shape: [256, 256], data_offsets: [0, 131072] } }, le('u16', all)),
      ).h!.toFloat32Array();
      for (let h = 0; h < 65536; ++h) {
        const s = h & 0x8000 ? -1 : 1,
          e = (h >> 10) & 0x1f,
          m = h & 0x3ff;
        const v = e === 0 ? s * m * 2 ** -24 : e === 31 ? (m ? NaN : s * Infinity) : s * (1 + m / 1024) * 2 ** (e - 15);
        if (!Object.is(a[h], v) && !(Number.isNaN(v) && Number.isNaN(a[h])))
          expect.fail(`half 0x${h.toString(16)}: ${a[h]} vs ${v}`);
      }
    });

    it('BF16 is decoded exactly', () => {
      const raw = [0x3f80, 0xc020, 0x4049, 0x7f7f, 0x0001, 0x8000, 0xff80, 0x7fc1];
      const bytes = file({ b: { dtype: 'BF16', shape: [2, 4], data_offsets: [0, 16] } }, le('u16', raw));
      const got = parseSafetensors(bytes);
      expect(got.dtypes.b).to.equal('BF16');
      expect(got.tensors.b!.shape).to.deep.equal([2, 4]);
      expect(bitsOf(got.tensors.b!.toFloat32Array())).to.deep.equal(raw.map((r) => (r << 16) >>> 0));
      const a = got.tensors.b!.toArray();
      expect(a.slice(0, 3)).to.deep.equal([1, -2.5, 3.140625]);
      expect(a[3]).to.equal(3.3895313892515355e38);
      expect(a[4]).to.equal(2 ** -133);
    });

    it('F64 is rounded to the nearest float32 (ties to even; overflow to Infinity, underflow to 0)', () => {
      const vals = [
        1,
        -2.5,
        0.1,
        1 + 2 ** -24,
        1 + 3 * 2 ** -24,
        1e300,
        -1e300,
        1e-50,
        2 ** -149,
        3.4028235e38,
        3.4028235677973366e38,
      ];
      // the last: halfway between the largest float32 and 2^128, whose tie goes to the even 2^128: Infinity
      const want = [
        1,
        -2.5,
        Math.fround(0.1),
        1,
        1 + 2 ** -22,
        Infinity,
        -Infinity,
        0,
        2 ** -149,
        3.4028234663852886e38,
        Infinity,
      ];
      const got = parseSafetensors(
        file({ d: { dtype: 'F64', shape: [vals.length], data_offsets: [0, vals.length * 8] } }, le('f64', vals)),
      );
      expect(got.dtypes.d).to.equal('F64');
      expect(got.tensors.d!.toArray()).to.deep.equal(want);
    });

    it('a mixed file with unaligned offsets, a scalar and an empty tensor, in any header order', () => {
      // data: h (3 x F16, bytes 0..6), f (F32 scalar at the unaligned offset 6), e (empty), d (2 x F64 at 10)
      const header = {
        d: { dtype: 'F64', shape: [2, 1], data_offsets: [10, 26] },
        e: { dtype: 'F32', shape: [0, 5], data_offsets: [10, 10] },
        __metadata__: { source: 'hand-made' },
        h: { dtype: 'F16', shape: [3], data_offsets: [0, 6] },
        f: { dtype: 'F32', shape: [], data_offsets: [6, 10] },
      };
      const data = [...le('u16', [0x3c00, 0xc100, 0x7bff]), ...le('f32', [-7.75]), ...le('f64', [0.5, -1e-3])];
      const got = parseSafetensors(file(header, data));
      expect(Object.keys(got.tensors)).to.deep.equal(['h', 'f', 'e', 'd']); // offset order
      expect(got.metadata).to.deep.equal({ source: 'hand-made' });
      expect(got.dtypes).to.deep.equal({ h: 'F16', f: 'F32', e: 'F32', d: 'F64' });
      expect(got.tensors.h!.toArray()).to.deep.equal([1, -2.5, 65504]);
      expect(got.tensors.f!.shape).to.deep.equal([]);
      expect(got.tensors.f!.item()).to.equal(-7.75);
      expect(got.tensors.e!.shape).to.deep.equal([0, 5]);
      expect(got.tensors.d!.shape).to.deep.equal([2, 1]);
      expect(got.tensors.d!.toArray()).to.deep.equal([0.5, Math.fround(-1e-3)]);
    });

    it('accepts a header without padding, and with trailing spaces beyond 8-byte alignment', () => {
      const h = { a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } };
      expect(decodeSafetensors(file(h, le('f32', [2]), { pad: false })).a!.item()).to.equal(2);
      expect(
        decodeSafetensors(file(JSON.stringify(h) + ' '.repeat(19), le('f32', [3]), { pad: false })).a!.item(),
      ).to.equal(3);
    });

    it('refuses other dtypes with a TypeError naming the tensor and the dtype', () => {
      for (const [dtype, size] of [
        ['I64', 8],
        ['BOOL', 1],
        ['I32', 4],
        ['F8_E4M3', 1],
        ['C64', 8],
      ] as [string, number][]) {
        const bytes = file(
          {
            ok: { dtype: 'F32', shape: [1], data_offsets: [0, 4] },
            'layer.steps': { dtype, shape: [2], data_offsets: [4, 4 + 2 * size] },
          },
          new Array(4 + 2 * size).fill(0),
        );
        expectThrow(
          () => decodeSafetensors(bytes),
          TypeError,
          new RegExp(
            `tensor 'layer\\.steps' has dtype ${dtype}, which spikelayers does not load \\(it loads F32, F64, F16, BF16 and U8\\)`,
          ),
        );
      }
    });
  });

  // ---- dtypes other than float32 -------------------------------------------------------------------

  describe('F16, BF16 and U8 tensors', () => {
    it('U8 is read as float32 values, and with keepDtype as a uint8 tensor of the same bytes', () => {
      const bytes = file({ s: { dtype: 'U8', shape: [2, 3], data_offsets: [0, 6] } }, [0, 1, 2, 255, 7, 128]);
      const plain = parseSafetensors(bytes);
      expect(plain.dtypes.s).to.equal('U8');
      expect(plain.tensors.s!.dtype).to.equal('float32');
      expect(plain.tensors.s!.toArray()).to.deep.equal([0, 1, 2, 255, 7, 128]);
      const kept = decodeSafetensors(bytes, { keepDtype: true }).s!;
      expect(kept.dtype).to.equal('uint8');
      expect(kept.shape).to.deep.equal([2, 3]);
      expect(Array.from(kept._hostData())).to.deep.equal([0, 1, 2, 255, 7, 128]);
    });

    it('keepDtype keeps F16 and BF16 bit patterns exactly (signalling NaNs included); F32 and F64 stay float32', () => {
      const halves = [0x3c00, 0x7c01, 0x8001, 0xfbff];
      const bf = [0x3f80, 0x7f81, 0x0001];
      const header = {
        h: { dtype: 'F16', shape: [4], data_offsets: [0, 8] },
        b: { dtype: 'BF16', shape: [3], data_offsets: [8, 14] },
        d: { dtype: 'F64', shape: [1], data_offsets: [14, 22] },
      };
      const got = parseSafetensors(file(header, [...le('u16', halves), ...le('u16', bf), ...le('f64', [0.1])]), {
        keepDtype: true,
      });
      expect(got.tensors.h!.dtype).to.equal('float16');
      expect(Array.from(got.tensors.h!._hostData())).to.deep.equal(halves);
      expect(got.tensors.b!.dtype).to.equal('bfloat16');
      expect(Array.from(got.tensors.b!._hostData())).to.deep.equal(bf);
      expect(got.tensors.d!.dtype).to.equal('float32');
      expect(got.tensors.d!.item()).to.equal(Math.fround(0.1));
    });

    it("writes each dtype as itself, in the reference writer's order (F32, BF16, F16, U8; then by name)", () => {
      const tensors = {
        z: Tensor.from([1.5], [1]),
        u: Tensor.from(Uint8Array.of(3, 250), [2], { dtype: 'uint8' }),
        h: Tensor.from(Uint16Array.of(0x3c00, 0xc100), [1, 2], { dtype: 'float16' }),
        b: Tensor.from(Uint16Array.of(0x4049), [], { dtype: 'bfloat16' }),
        a: Tensor.from([-2], [1]),
      };
      const header =
        '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},' +
        '"z":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},' +
        '"b":{"dtype":"BF16","shape":[],"data_offsets":[8,10]},' +
        '"h":{"dtype":"F16","shape":[1,2],"data_offsets":[10,14]},' +
        '"u":{"dtype":"U8","shape":[2],"data_offsets":[14,16]}}';
      const data = [...le('f32', [-2, 1.5]), ...le('u16', [0x4049, 0x3c00, 0xc100]), 3, 250];
      expect(Array.from(encodeSafetensors(tensors))).to.deep.equal(Array.from(file(header, data)));
      const back = parseSafetensors(encodeSafetensors(tensors), { keepDtype: true });
      expect(back.dtypes).to.deep.equal({ a: 'F32', z: 'F32', b: 'BF16', h: 'F16', u: 'U8' });
      for (const [k, t] of Object.entries(tensors)) {
        expect(back.tensors[k]!.dtype, k).to.equal(t.dtype);
        expect(Array.from(back.tensors[k]!._hostData()), k).to.deep.equal(Array.from(t._hostData()));
      }
    });

    it('bad read options are TypeErrors naming the option', () => {
      const bytes = file({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, le('f32', [1]));
      expectThrow(() => parseSafetensors(bytes, { keepDtype: 1 as never }), TypeError, /keepDtype must be a boolean/);
      expectThrow(() => decodeSafetensors(bytes, { keep: true } as never), TypeError, /unknown option 'keep'/);
      expectThrow(() => loadSafetensors(join(dir, 'none'), 5 as never), TypeError, /options must be an object/);
    });
  });

  // ---- malformed files --------------------------------------------------------------------------

  describe('malformed files', () => {
    const one = { dtype: 'F32', shape: [2], data_offsets: [0, 8] };
    const d8 = new Array(8).fill(0);
    const cases: [string, Uint8Array, typeof TypeError | typeof RangeError, RegExp][] = [
      [
        'empty file',
        new Uint8Array(0),
        RangeError,
        /0 bytes long, too short for a safetensors file \(at least 8 bytes/,
      ],
      ['7 bytes', new Uint8Array(7), RangeError, /7 bytes long, too short/],
      [
        'header length beyond the file',
        file({ a: one }, d8, { length: 1000 }),
        RangeError,
        /header length is 1000 bytes, beyond the end of the file \(\d+ bytes follow the length field\)/,
      ],
      [
        'header length 2^64 - 1',
        Uint8Array.from([...u64(2n ** 64n - 1n), ...ascii('{}')]),
        RangeError,
        /header length is 18446744073709551615 bytes, more than the limit of 100000000/,
      ],
      [
        'header length 0',
        Uint8Array.from(u64(0)),
        TypeError,
        /must be a JSON object starting with '\{', but it is empty/,
      ],
      ['header not starting with {', file(' {}'), TypeError, /starting with '\{', but it starts with byte 0x20/],
      ['header a JSON array', file('[1,2]'), TypeError, /starting with '\{', but it starts with byte 0x5b/],
      [
        'header not UTF-8',
        Uint8Array.from([...u64(8), ...ascii('{"'), 0xff, 0xfe, ...ascii('":1}')]),
        TypeError,
        /header is not valid UTF-8/,
      ],
      ['header not JSON', file('{"a": {"dtype": "F32",'), TypeError, /header is not valid JSON \(/],
      ['JSON followed by garbage', file('{} x'), TypeError, /header is not valid JSON/],
      [
        'entry not an object',
        file({ a: 5 }),
        TypeError,
        /tensor 'a' must be an object \{ dtype, shape, data_offsets \}, got number 5/,
      ],
      ['entry an array', file({ a: [1] }), TypeError, /tensor 'a' must be an object .*got an array/],
      [
        'missing data_offsets',
        file({ a: { dtype: 'F32', shape: [2] } }, d8),
        TypeError,
        /tensor 'a' lacks the field\(s\) 'data_offsets'/,
      ],
      [
        'missing dtype and shape',
        file({ a: { data_offsets: [0, 8] } }, d8),
        TypeError,
        /tensor 'a' lacks the field\(s\) 'dtype', 'shape'/,
      ],
      [
        'extra field',
        file({ a: { ...one, stride: [1] } }, d8),
        TypeError,
        /tensor 'a' has unknown field\(s\) 'stride'/,
      ],
      [
        'dtype not a string',
        file({ a: { ...one, dtype: 4 } }, d8),
        TypeError,
        /tensor 'a': dtype must be a string such as "F32", got number 4/,
      ],
      [
        'unknown dtype',
        file({ a: { ...one, dtype: 'F33' } }, d8),
        TypeError,
        /tensor 'a' has dtype 'F33', which is not a safetensors dtype/,
      ],
      [
        'lower-case dtype',
        file({ a: { ...one, dtype: 'f32' } }, d8),
        TypeError,
        /dtype 'f32', which is not a safetensors dtype/,
      ],
      [
        'shape not an array',
        file({ a: { ...one, shape: 2 } }, d8),
        TypeError,
        /tensor 'a': shape must be an array of non-negative integers, got 2/,
      ],
      [
        'negative shape',
        file({ a: { ...one, shape: [-2] } }, d8),
        TypeError,
        /shape must be an array of non-negative integers, got \[-2\]/,
      ],
      [
        'fractional shape',
        file({ a: { ...one, shape: [1.5] } }, d8),
        TypeError,
        /shape must be an array of non-negative integers/,
      ],
      [
        'data_offsets of 3',
        file({ a: { ...one, data_offsets: [0, 4, 8] } }, d8),
        TypeError,
        /data_offsets must be \[begin, end\] with non-negative integers, got \[0,4,8\]/,
      ],
      [
        'negative offset',
        file({ a: { ...one, data_offsets: [-8, 0] } }, d8),
        TypeError,
        /data_offsets must be \[begin, end\]/,
      ],
      [
        'offsets as strings',
        file({ a: { ...one, data_offsets: ['0', '8'] } }, d8),
        TypeError,
        /data_offsets must be \[begin, end\]/,
      ],
      [
        'end before begin',
        file({ a: { ...one, data_offsets: [8, 0] } }, d8),
        RangeError,
        /tensor 'a': data_offsets \[8, 0\] end before they begin/,
      ],
      [
        'shape vs bytes',
        file({ a: { ...one, shape: [3] } }, d8),
        RangeError,
        /tensor 'a': shape \[3\] of F32 needs 12 bytes, but data_offsets \[0, 8\] hold 8/,
      ],
      [
        'F16 shape vs bytes',
        file({ a: { dtype: 'F16', shape: [2, 3], data_offsets: [0, 8] } }, d8),
        RangeError,
        /shape \[2, 3\] of F16 needs 12 bytes, but data_offsets \[0, 8\] hold 8/,
      ],
      [
        'offsets beyond the buffer',
        file({ a: { ...one, data_offsets: [4, 12] } }, d8),
        RangeError,
        /tensor 'a' has data_offsets \[4, 12\], beyond the end of the data buffer \(8 bytes\)/,
      ],
      [
        'overlap',
        file({ a: one, b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, d8),
        RangeError,
        /tensor 'b' \(bytes \[4, 8\)\) overlaps tensor 'a' \(bytes \[0, 8\)\)/,
      ],
      ['same range twice', file({ a: one, b: one }, d8), RangeError, /overlaps tensor/],
      [
        'gap at the start',
        file({ a: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, d8),
        RangeError,
        /bytes \[0, 4\) of the data buffer belong to no tensor \(a gap before tensor 'a'\)/,
      ],
      [
        'gap between',
        file(
          {
            a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] },
            b: { dtype: 'F32', shape: [1], data_offsets: [8, 12] },
          },
          new Array(12).fill(0),
        ),
        RangeError,
        /bytes \[4, 8\) of the data buffer belong to no tensor \(a gap before tensor 'b'\)/,
      ],
      [
        'trailing bytes',
        file({ a: one }, new Array(12).fill(0)),
        RangeError,
        /the last 4 bytes of the data buffer \(from offset 8 of 12\) belong to no tensor/,
      ],
      ['data but no tensors', file({}, [1, 2, 3]), RangeError, /the last 3 bytes of the data buffer/],
      [
        'metadata not an object',
        file({ __metadata__: 'pt' }),
        TypeError,
        /'__metadata__' must be an object of strings, got string "pt"/,
      ],
      [
        'metadata null',
        file({ __metadata__: null }),
        TypeError,
        /'__metadata__' must be an object of strings, got null/,
      ],
      [
        'non-string metadata value',
        file({ __metadata__: { format: 'pt', epoch: 3 } }),
        TypeError,
        /'__metadata__' value 'epoch' must be a string, got number 3/,
      ],
      [
        'nested metadata value',
        file({ __metadata__: { cfg: { a: '1' } } }),
        TypeError,
        /value 'cfg' must be a string, got an object/,
      ],
    ];
    for (const [name, bytes, cls, re] of cases) {
      it(`${name}: ${cls.name}`, () => {
        expectThrow(() => decodeSafetensors(bytes), cls, re);
        expectThrow(() => parseSafetensors(bytes), cls, re);
      });
    }

    it('loadSafetensors names the file; a missing file is a Node ENOENT error; bad input types are TypeErrors', () => {
      const path = join(dir, 'bad.safetensors');
      writeFileSync(path, file({ a: one }, new Array(4).fill(0)));
      expectThrow(
        () => loadSafetensors(path),
        RangeError,
        new RegExp(`^loadSafetensors: ${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: tensor 'a' has data_offsets`),
      );
      expect(() => loadSafetensors(join(dir, 'missing.safetensors')))
        .to.throw(Error)
        .with.property('code', 'ENOENT');
      expectThrow(
        () => decodeSafetensors('{}' as unknown as Uint8Array),
        TypeError,
        /bytes must be a Uint8Array \(e\.g\. a Buffer\) or an ArrayBuffer, got string/,
      );
      expectThrow(
        () => decodeSafetensors([8, 0, 0, 0, 0, 0, 0, 0] as unknown as Uint8Array),
        TypeError,
        /got an array/,
      );
    });
  });

  // ---- a layer's state through a file -------------------------------------------------------------

  describe('LIF stateDict through a file', () => {
    it('stateDict saved and loaded into a new LIF reproduces the outputs and states exactly', () => {
      const N = 6,
        B = 3;
      const opts = () => ({ tauSyn: 4, minVMem: -0.5, seed: 5 });
      const a = new LIF({ tauMem: Tensor.from([3, 5, 8, 13, 21, 34], [N]), ...opts(), spikeThreshold: 0.75 });
      a.forward(rand([B, 40, N], 11)); // states now hold values
      const path = join(dir, 'lif.safetensors');
      saveSafetensors(path, a.stateDict(), { format: 'pt', layer: 'LIF' });
      const loaded = loadSafetensors(path);
      expect(Object.keys(loaded).sort()).to.deep.equal([
        'i_syn',
        'min_v_mem',
        'spike_threshold',
        'tau_mem',
        'tau_syn',
        'v_mem',
      ]);
      expect(loaded.v_mem!.shape).to.deep.equal([B, N]);
      expect(loaded.spike_threshold!.shape).to.deep.equal([]);

      // a new layer with other values of the same structure
      const b = new LIF({ tauMem: Tensor.full([N], 10), tauSyn: 9, minVMem: -3, spikeThreshold: 2, seed: 5 });
      b.loadStateDict(loaded);
      const sa = a.stateDict(),
        sb = b.stateDict();
      for (const k of Object.keys(sa)) expectBits(sb[k], sa[k], `after load: ${k}`);
      for (let c = 0; c < 3; ++c) {
        const x = rand([B, 25, N], 20 + c);
        expectBits(b.forward(x), a.forward(x), `call ${c}: spikes`);
        expectBits(b.vMem!, a.vMem!, `call ${c}: v_mem`);
        expectBits(b.iSyn!, a.iSyn!, `call ${c}: i_syn`);
      }
    });

    it("a fresh layer's unallocated state ([0]-shaped, as in sinabs) round trips too", () => {
      const a = new LIF({ tauMem: 12 });
      const path = join(dir, 'fresh.safetensors');
      saveSafetensors(path, a.stateDict());
      const loaded = loadSafetensors(path);
      expect(loaded.v_mem!.shape).to.deep.equal([0]);
      const b = new LIF({ tauMem: 3 });
      b.loadStateDict(loaded);
      expect(b.tauMem!.item()).to.equal(12);
      expect(b.shape).to.equal(null);
      const x = rand([2, 30, 4], 9);
      expectBits(b.forward(x), a.forward(x), 'spikes');
    });
  });
});
