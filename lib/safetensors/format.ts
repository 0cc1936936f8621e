// The safetensors format's tables: the dtypes spikelayers reads and their element sizes, the
// dtypes it refuses, the metadata key, the header limit, and the host byte order. The format
// itself is described in lib/safetensors.ts.
import { endianness } from 'node:os';
import type { Tensor } from '../tensor.js';

/** The dtypes spikelayers reads (all become float32 Tensors). */
export type SafetensorsDtype = 'F32' | 'F64' | 'F16' | 'BF16';

/** Everything in a safetensors file: see {@link parseSafetensors}. */
export interface SafetensorsContents {
  /** The tensors by name, in the order of their data offsets (except that names which are array
   * indices, such as '0', come first in numeric order, as JavaScript orders such keys). */
  tensors: Record<string, Tensor>;
  /** The `__metadata__` entry, or null when the file has none. */
  metadata: Record<string, string> | null;
  /** The dtype each tensor had in the file, by name. */
  dtypes: Record<string, SafetensorsDtype>;
}

/** Largest header the reference reader accepts (bytes). */
export const SAFETENSORS_MAX_HEADER = 100_000_000;

/** The header entry that holds the metadata. */
export const METADATA_KEY = '__metadata__';
/** Bytes per element of each dtype spikelayers reads. */
export const ELEMENT_SIZE: Record<SafetensorsDtype, number> = { F32: 4, F64: 8, F16: 2, BF16: 2 };
/** Dtypes of the format that spikelayers does not read (for a precise error message). */
export const OTHER_DTYPES = new Set([
  'BOOL',
  'U8',
  'I8',
  'I16',
  'U16',
  'I32',
  'U32',
  'I64',
  'U64',
  'C64',
  'F4',
  'F6_E2M3',
  'F6_E3M2',
  'F8_E5M2',
  'F8_E4M3',
  'F8_E8M0',
  'F8_E4M3FNUZ',
  'F8_E5M2FNUZ',
]);
/** Whether the host is little-endian (the format is): then data is copied, not converted. */
export const LITTLE_ENDIAN = endianness() === 'LE';
