// The safetensors format's tables: the dtypes spikelayers reads and their element sizes, the
// dtypes it refuses, the metadata key, the header limit, and the host byte order. The format
// itself is described in lib/safetensors.ts.
import { endianness } from 'node:os';
import type { Dtype } from '../dtype.js';
import type { Tensor } from '../tensor.js';

/** The dtypes spikelayers reads: into float32 Tensors, or with `keepDtype` F16, BF16 and U8 into float16, bfloat16 and uint8 Tensors. */
export type SafetensorsDtype = 'F32' | 'F64' | 'F16' | 'BF16' | 'U8';

/** Options of parseSafetensors / decodeSafetensors / loadSafetensors. */
export interface SafetensorsReadOptions {
  /** false (default): every tensor becomes float32 (exactly; F64 rounded to nearest). true: F16,
   * BF16 and U8 tensors keep their type as 'float16', 'bfloat16' and 'uint8' Tensors (F64 still
   * becomes float32). */
  keepDtype?: boolean;
}

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
export const ELEMENT_SIZE: Record<SafetensorsDtype, number> = { F32: 4, F64: 8, F16: 2, BF16: 2, U8: 1 };
/** The Tensor dtype each file dtype is read into with `keepDtype`. */
export const TENSOR_DTYPE: Record<SafetensorsDtype, Dtype> = {
  F32: 'float32',
  F64: 'float32',
  F16: 'float16',
  BF16: 'bfloat16',
  U8: 'uint8',
};
/** The file dtype each Tensor dtype is written as, and its rank in the reference writer's order
 * (by descending alignment: its Dtype enum orders U8 < F16 < BF16 < F32). */
export const FILE_DTYPE: Record<Dtype, { name: SafetensorsDtype; rank: number }> = {
  float32: { name: 'F32', rank: 3 },
  bfloat16: { name: 'BF16', rank: 2 },
  float16: { name: 'F16', rank: 1 },
  uint8: { name: 'U8', rank: 0 },
};
/** Dtypes of the format that spikelayers does not read (for a precise error message). */
export const OTHER_DTYPES = new Set([
  'BOOL',
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
