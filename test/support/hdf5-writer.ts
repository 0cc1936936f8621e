// A minimal HDF5 writer for the tests: groups, fixed-size numeric datasets and variable-length
// (vlen) sequences of numbers, the datatype the Spiking Heidelberg Digits files use for their spike
// times and unit ids. h5wasm writes fixed-size datasets and vlen strings but no vlen sequences of
// numbers, so the test files are written here from the HDF5 file-format specification and then
// read back through h5wasm (the HDF5 library itself), which is what checks that they are valid.
//
// Layout written: superblock version 0 (8-byte offsets and lengths), version-1 object headers,
// groups in the compact "new-style" form (a Link Info message plus one Link message per child, no
// B-trees or heaps), datasets with contiguous storage, vlen data in one global heap collection.
// Optionally an h5wasm pass then adds more datasets to the same file (see writeHdf5).

import { writeFileSync } from 'node:fs';

/** Numeric element types: [HDF5 class, size in bytes, signed]. */
const TYPES = {
  u8: [0, 1, false],
  u16: [0, 2, false],
  u32: [0, 4, false],
  i8: [0, 1, true],
  i16: [0, 2, true],
  i32: [0, 4, true],
  i64: [0, 8, true],
  f16: [1, 2, true],
  f32: [1, 4, true],
  f64: [1, 8, true],
} as const;
export type H5Type = keyof typeof TYPES;

/** A dataset: `data` is one flat list (fixed-size, with `shape`) or a list of lists (vlen, 1-D). */
export interface H5Dataset {
  type: H5Type;
  data: ArrayLike<number> | ArrayLike<number>[];
  vlen?: boolean;
  shape?: number[];
}
/** A group: children by name (groups or datasets). */
export interface H5Group {
  [name: string]: H5Group | H5Dataset;
}

const UNDEF = 0xffffffffffffffffn;
const isDataset = (x: H5Group | H5Dataset): x is H5Dataset => typeof x.type === 'string' && 'data' in x;

class Buf {
  bytes: number[] = [];
  u8(v: number): this {
    this.bytes.push(v & 0xff);
    return this;
  }
  u16(v: number): this {
    return this.u8(v).u8(v >>> 8);
  }
  u32(v: number): this {
    return this.u16(v & 0xffff).u16(v >>> 16);
  }
  u64(v: number | bigint): this {
    const b = BigInt(v);
    return this.u32(Number(b & 0xffffffffn)).u32(Number((b >> 32n) & 0xffffffffn));
  }
  raw(a: ArrayLike<number>): this {
    for (let k = 0; k < a.length; ++k) this.u8(a[k]!);
    return this;
  }
  pad8(): this {
    while (this.bytes.length % 8) this.u8(0);
    return this;
  }
  get length(): number {
    return this.bytes.length;
  }
}

/** The datatype message body of a numeric type. */
function numericType(t: H5Type): number[] {
  const [cls, size, signed] = TYPES[t];
  const b = new Buf();
  if (cls === 0) {
    b.u8(0x10 | 0)
      .u8(signed ? 0x08 : 0)
      .u8(0)
      .u8(0)
      .u32(size)
      .u16(0)
      .u16(8 * size);
  } else if (size === 2) {
    b.u8(0x10 | 1)
      .u8(0x20)
      .u8(15)
      .u8(0)
      .u32(2)
      .u16(0)
      .u16(16)
      .u8(10)
      .u8(5)
      .u8(0)
      .u8(10)
      .u32(15);
  } else if (size === 4) {
    // little-endian IEEE single: mantissa normalisation "implied msb" (2 << 4), sign bit 31
    b.u8(0x10 | 1)
      .u8(0x20)
      .u8(31)
      .u8(0)
      .u32(4)
      .u16(0)
      .u16(32)
      .u8(23)
      .u8(8)
      .u8(0)
      .u8(23)
      .u32(127);
  } else {
    b.u8(0x10 | 1)
      .u8(0x20)
      .u8(63)
      .u8(0)
      .u32(8)
      .u16(0)
      .u16(64)
      .u8(52)
      .u8(11)
      .u8(0)
      .u8(52)
      .u32(1023);
  }
  return b.bytes;
}

function encode(t: H5Type, v: number, out: Buf): void {
  const [cls, size] = TYPES[t];
  const dv = new DataView(new ArrayBuffer(8));
  if (cls === 1) {
    if (size === 2) dv.setUint16(0, halfBits(v), true);
    else if (size === 4) dv.setFloat32(0, v, true);
    else dv.setFloat64(0, v, true);
  } else if (size === 8) dv.setBigInt64(0, BigInt(v), true);
  else if (size === 4) dv.setUint32(0, v >>> 0, true);
  else if (size === 2) dv.setUint16(0, v & 0xffff, true);
  else dv.setUint8(0, v & 0xff);
  for (let k = 0; k < size; ++k) out.u8(dv.getUint8(k));
}

/** The IEEE half-precision bits of v, which must be exactly representable (0 or a normal half). */
function halfBits(v: number): number {
  if (v === 0) return 0;
  const sign = v < 0 ? 0x8000 : 0;
  const a = Math.abs(v);
  const e = Math.floor(Math.log2(a));
  const frac = (a / 2 ** e - 1) * 1024;
  if (e < -14 || e > 15 || !Number.isInteger(frac)) throw new Error(`${v} is not a normal float16 value`);
  return sign | ((e + 15) << 10) | frac;
}

/** One object header (version 1) from [type, body] messages. */
function objectHeader(messages: [number, number[]][]): number[] {
  const body = new Buf();
  for (const [type, data] of messages) {
    const len = Math.ceil(data.length / 8) * 8;
    body.u16(type).u16(len).u8(0).u8(0).u8(0).u8(0).raw(data);
    while (body.length % 8) body.u8(0);
  }
  const h = new Buf();
  h.u8(1).u8(0).u16(messages.length).u32(1).u32(body.length).u32(0); // 16-byte prefix
  return [...h.bytes, ...body.bytes];
}

/**
 * The bytes of an HDF5 file holding `root` (see the header comment for the layout).
 */
export function hdf5Bytes(root: H5Group): Uint8Array {
  const SB = 96; // superblock v0 with its root symbol-table entry
  const out = new Buf();
  out.raw(new Array(SB).fill(0));
  // global heap objects collected while writing vlen datasets, placed at the end
  const heapObjects: number[][] = [];
  const heapRefs: { at: number; index: number }[] = []; // where a collection address must be patched

  const patches: { at: number; value: bigint }[] = [];
  const writeObject = (node: H5Group | H5Dataset): number => {
    if (isDataset(node)) {
      const vlen = node.vlen === true;
      const count = vlen ? node.data.length : node.shape ? node.shape.reduce((a, b) => a * b, 1) : node.data.length;
      const shape = vlen ? [node.data.length] : (node.shape ?? [node.data.length]);
      if (!vlen && count !== node.data.length) throw new Error('shape does not match the data');
      // raw data first
      const raw = new Buf();
      if (vlen) {
        for (const seq of node.data as ArrayLike<number>[]) {
          const obj = new Buf();
          for (let k = 0; k < seq.length; ++k) encode(node.type, seq[k]!, obj);
          heapObjects.push(obj.bytes);
          raw.u32(seq.length);
          heapRefs.push({ at: out.length + raw.length, index: heapObjects.length });
          raw.u64(0).u32(heapObjects.length);
        }
      } else {
        for (let k = 0; k < count; ++k) encode(node.type, (node.data as ArrayLike<number>)[k]!, raw);
      }
      const dataAddr = out.length;
      out.raw(raw.bytes).pad8();
      const space = new Buf().u8(1).u8(shape.length).u8(0).u8(0).u32(0);
      for (const d of shape) space.u64(d);
      const dtype = vlen
        ? [
            ...new Buf()
              .u8(0x10 | 9)
              .u8(0)
              .u8(0)
              .u8(0)
              .u32(16).bytes,
            ...numericType(node.type),
          ]
        : numericType(node.type);
      const layout = new Buf()
        .u8(3)
        .u8(1)
        .u64(raw.length ? dataAddr : UNDEF)
        .u64(raw.length);
      const addr = out.length;
      out.raw(
        objectHeader([
          [1, space.bytes],
          [3, dtype],
          [8, layout.bytes],
        ]),
      );
      return addr;
    }
    const children = Object.entries(node).map(([name, child]) => [name, writeObject(child)] as const);
    const linfo = new Buf().u8(0).u8(0).u64(UNDEF).u64(UNDEF);
    const ginfo = new Buf().u8(0).u8(0);
    const messages: [number, number[]][] = [
      [2, linfo.bytes],
      [10, ginfo.bytes],
    ];
    for (const [name, addr] of children) {
      const nb = new TextEncoder().encode(name);
      if (nb.length > 255) throw new Error('name too long');
      messages.push([6, new Buf().u8(1).u8(0).u8(nb.length).raw(nb).u64(addr).bytes]);
    }
    const addr = out.length;
    out.raw(objectHeader(messages));
    return addr;
  };
  const rootAddr = writeObject(root);

  if (heapObjects.length) {
    out.pad8();
    const gcol = out.length;
    const objs = new Buf();
    heapObjects.forEach((o, k) => {
      objs
        .u16(k + 1)
        .u16(1)
        .u32(0)
        .u64(o.length)
        .raw(o)
        .pad8();
    });
    const used = 16 + objs.length + 16; // collection header, objects, the free-space object header
    const size = Math.max(4096, Math.ceil(used / 8) * 8);
    out.raw([0x47, 0x43, 0x4f, 0x4c]).u8(1).u8(0).u8(0).u8(0).u64(size).raw(objs.bytes);
    out
      .u16(0)
      .u16(0)
      .u32(0)
      .u64(size - 16 - objs.length);
    while (out.length < gcol + size) out.u8(0);
    for (const r of heapRefs) patches.push({ at: r.at, value: BigInt(gcol) });
  }

  const sb = new Buf();
  sb.raw([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);
  sb.u8(0).u8(0).u8(0).u8(0).u8(0).u8(8).u8(8).u8(0).u16(4).u16(16).u32(0);
  sb.u64(0).u64(UNDEF).u64(out.length).u64(UNDEF);
  sb.u64(0).u64(rootAddr).u32(0).u32(0).u64(0).u64(0); // root symbol-table entry, no cache
  if (sb.length !== SB) throw new Error(`superblock is ${sb.length} bytes`);
  const bytes = Uint8Array.from(out.bytes);
  bytes.set(sb.bytes, 0);
  const dv = new DataView(bytes.buffer);
  for (const p of patches) dv.setBigUint64(p.at, p.value, true);
  return bytes;
}

/** Writes `root` as an HDF5 file at `path`. */
export function writeHdf5(path: string, root: H5Group): void {
  writeFileSync(path, hdf5Bytes(root));
}

/** A file in the Spiking Heidelberg Digits layout: spikes/times (f32 vlen), spikes/units (u16 vlen), labels (u8). */
export function writeShd(
  path: string,
  samples: { times: number[]; units: number[]; label: number }[],
  opts: { timesType?: H5Type; unitsType?: H5Type; labelsType?: H5Type; extra?: boolean } = {},
): void {
  const root: H5Group = {
    spikes: {
      times: { type: opts.timesType ?? 'f32', vlen: true, data: samples.map((s) => s.times) },
      units: { type: opts.unitsType ?? 'u16', vlen: true, data: samples.map((s) => s.units) },
    },
    labels: { type: opts.labelsType ?? 'u8', data: samples.map((s) => s.label) },
  };
  if (opts.extra) root.extra = { speaker: { type: 'u8', data: samples.map((_, k) => k % 3) } };
  writeHdf5(path, root);
}
