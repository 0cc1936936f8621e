/**
 * Reader of event datasets in the Spiking Heidelberg Digits (SHD) HDF5 layout:
 *
 *   spikes/times   per sample a variable-length array of spike times in seconds (float16/32/64)
 *   spikes/units   per sample a variable-length array of unit ids, 0..numUnits-1 (integers)
 *   labels         one integer per sample
 *   extra/...      optional (speaker, keys, meta_info); not read
 *
 * The file is read with h5wasm (the HDF5 library compiled to WebAssembly), loaded on first use.
 */
import { checkOptions, readInt, readNumber } from '../validate.js';
import { describe } from '../tensor.js';
import { ErrorCodes, SpikelayersError } from '../errors.js';
import { EventDataset, type TimeArray, type UnitArray } from './events.js';
import { openHdf5 } from './hdf5.js';

/** Options of {@link loadShd}. */
export interface ShdOptions {
  /** Time bins T of the tensors made from the dataset. Default 100. */
  numSteps?: number;
  /** End of the binned window in seconds. Default 1.4 (SHD's longest samples are ~1.4 s). */
  maxTime?: number;
  /** Input units (channels); every unit id must be below it. Default 700 (SHD). */
  numUnits?: number;
  /** Number of classes; every label must be below it. Default: the largest label + 1. */
  numClasses?: number;
  /** Read only the first `limit` samples (>= 1). Default: all. */
  limit?: number;
}

const SHD_KEYS = ['numSteps', 'maxTime', 'numUnits', 'numClasses', 'limit'] as const;
/** Samples read per h5wasm call (bounds the WebAssembly heap used while reading). */
const CHUNK = 512;
const H5T_INTEGER = 0,
  H5T_FLOAT = 1,
  H5T_VLEN = 9;

interface H5Meta {
  type: number;
  size: number;
  signed: boolean;
  shape: number[] | null;
  vlen_type?: H5Meta;
}
interface H5Dataset {
  metadata: H5Meta;
  slice(ranges: [number, number][]): unknown;
  _metadata?: H5Meta;
}

/**
 * Reads an SHD-layout HDF5 file into an {@link EventDataset}.
 *
 * @throws TypeError / RangeError for bad options. SpikelayersError with code `ERR_DATA_FILE`
 *   when the file is missing or not HDF5, `ERR_DATA_FORMAT` when a dataset is missing (the message
 *   names its path), has the wrong type or length, or holds a unit id out of range, a negative or
 *   non-finite time or a bad label (the message names the sample).
 */
export async function loadShd(path: string, opts?: ShdOptions): Promise<EventDataset> {
  if (typeof path !== 'string' || path === '')
    throw new TypeError(`loadShd: path must be a non-empty string, got ${describe(path)}`);
  const o = checkOptions<ShdOptions>(opts, SHD_KEYS, 'loadShd: opts');
  const numUnits = readInt(o.numUnits, 'loadShd: numUnits', 700, 1, 65536);
  const numSteps = readInt(o.numSteps, 'loadShd: numSteps', 100, 1, 2 ** 24);
  const maxTime = readNumber(o.maxTime, 'loadShd: maxTime', 1.4, { min: 0, minExclusive: true });
  const numClasses =
    o.numClasses === undefined ? undefined : readInt(o.numClasses, 'loadShd: numClasses', undefined, 1);
  const limit = o.limit === undefined ? Infinity : readInt(o.limit, 'loadShd: limit', undefined, 1);
  const { h5, file } = await openHdf5(path, 'loadShd');
  try {
    const get = (name: string): H5Dataset => {
      let entity: unknown;
      try {
        entity = file.get(name);
      } catch {
        entity = null;
      }
      if (!(entity instanceof h5.Dataset)) {
        throw new SpikelayersError(
          ErrorCodes.DATA_FORMAT,
          `loadShd: '${path}' has no dataset '${name}'` +
            (entity ? ` (it is a ${(entity as { type?: string }).type ?? 'different object'})` : '') +
            ' (expected the SHD layout: spikes/times, spikes/units, labels)',
        );
      }
      return entity as unknown as H5Dataset;
    };
    const times = get('spikes/times'),
      units = get('spikes/units'),
      labels = get('labels');
    const n = lengthOf(times, 'spikes/times', path, true);
    const nu = lengthOf(units, 'spikes/units', path, true);
    const nl = lengthOf(labels, 'labels', path, false);
    if (n !== nu || n !== nl)
      formatError(
        `loadShd: '${path}': spikes/times has ${n} samples, spikes/units ${nu}, labels ${nl} (they must match)`,
      );
    checkElement(times, 'spikes/times', path, 'float');
    checkElement(units, 'spikes/units', path, 'int');
    checkLabels(labels, path);
    if (n === 0) formatError(`loadShd: '${path}' holds no samples (spikes/times, spikes/units and labels are empty)`);
    const count = Math.min(n, limit);

    const isHalf = times.metadata.vlen_type!.size === 2;
    if (isHalf) {
      // h5wasm has no float16 arrays: read the raw 16-bit patterns as integers and decode them here
      times._metadata = {
        ...times.metadata,
        vlen_type: { ...times.metadata.vlen_type!, type: H5T_INTEGER, signed: false },
      };
    }
    const timeArrays: TimeArray[] = [],
      unitArrays: UnitArray[] = [];
    for (let start = 0; start < count; start += CHUNK) {
      const end = Math.min(start + CHUNK, count);
      const ts = times.slice([[start, end]]) as ArrayLike<number>[];
      const us = units.slice([[start, end]]) as UnitArray[];
      for (let k = 0; k < end - start; ++k) {
        const t = ts[k]!;
        timeArrays.push(isHalf ? halfToFloat32(t as Uint16Array) : (t as TimeArray));
        const u = us[k]!;
        unitArrays.push(
          u instanceof BigInt64Array || u instanceof BigUint64Array
            ? Int32Array.from(u as unknown as bigint[], Number)
            : u,
        );
      }
    }
    const rawLabels = (count === 0 ? [] : labels.slice([[0, count]])) as ArrayLike<number | bigint>;
    const labelArray = Array.from({ length: count }, (_, k) => Number(rawLabels[k]));
    try {
      return new EventDataset(
        { times: timeArrays, units: unitArrays, labels: labelArray },
        { numUnits, numSteps, maxTime, numClasses, source: `loadShd: '${path}'` },
      );
    } catch (e) {
      // a value out of range in the file is a format error of the file, not a bad argument
      if (e instanceof RangeError || e instanceof TypeError) formatError(e.message);
      throw e;
    }
  } finally {
    file.close();
  }
}

function formatError(message: string): never {
  throw new SpikelayersError(ErrorCodes.DATA_FORMAT, message);
}

function lengthOf(ds: H5Dataset, name: string, path: string, vlen: boolean): number {
  const m = ds.metadata;
  if (!m.shape || m.shape.length !== 1)
    formatError(
      `loadShd: '${path}': dataset '${name}' must be 1-D (one entry per sample), its shape is [${(m.shape ?? []).join(', ')}]`,
    );
  if (vlen && m.type !== H5T_VLEN)
    formatError(`loadShd: '${path}': dataset '${name}' must hold variable-length arrays (one per sample)`);
  return m.shape[0]!;
}

function checkElement(ds: H5Dataset, name: string, path: string, kind: 'float' | 'int'): void {
  const e = ds.metadata.vlen_type;
  const ok =
    e !== undefined && (kind === 'float' ? e.type === H5T_FLOAT && [2, 4, 8].includes(e.size) : e.type === H5T_INTEGER);
  if (!ok)
    formatError(
      `loadShd: '${path}': dataset '${name}' must hold ${kind === 'float' ? 'floating-point spike times (16, 32 or 64 bit)' : 'integer unit ids'}`,
    );
}

function checkLabels(ds: H5Dataset, path: string): void {
  const m = ds.metadata;
  if (m.type !== H5T_INTEGER) formatError(`loadShd: '${path}': dataset 'labels' must hold integers`);
}

/** IEEE half-precision bit patterns to float32 (exact). */
export function halfToFloat32(h: ArrayLike<number>): Float32Array {
  const out = new Float32Array(h.length);
  for (let k = 0; k < h.length; ++k) {
    const v = h[k]!;
    const sign = v & 0x8000 ? -1 : 1,
      exp = (v >>> 10) & 0x1f,
      frac = v & 0x3ff;
    out[k] =
      exp === 0
        ? sign * frac * 2 ** -24
        : exp === 31
          ? frac
            ? NaN
            : sign * Infinity
          : sign * (1 + frac / 1024) * 2 ** (exp - 15);
  }
  return out;
}
