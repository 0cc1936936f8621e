/**
 * safetensors files: the format PyTorch, sinabs users and the Hugging Face tools share for
 * tensors, e.g. a layer's `stateDict()`.
 *
 * The format (https://github.com/huggingface/safetensors):
 *
 *   bytes 0..8         N, the header length: an unsigned 64-bit little-endian integer
 *   bytes 8..8+N       the header: UTF-8 JSON, an object that starts with '{', padded at the end
 *                      with spaces (0x20); the reference writer pads so that 8 + N is a multiple of 8
 *   bytes 8+N..        the data buffer
 *
 * The header maps each tensor name to `{ "dtype": "F32", "shape": [2, 3], "data_offsets": [b, e] }`
 * (bytes [b, e) of the data buffer, row-major, little-endian) and may hold
 * `"__metadata__": { string: string }`. The tensors cover the data buffer exactly: in the order of
 * their offsets, each starts where the previous one ends, the first at 0 and the last at the end
 * of the file. An empty tensor (a 0 in its shape) has `[b, b]`.
 *
 * Writing: each tensor in its dtype (float32 as F32, float16 as F16, bfloat16 as BF16, uint8 as U8),
 * in the reference writer's order (by dtype, F32 first, then BF16, F16 and U8; within a dtype by
 * name, compared as UTF-8 bytes), the header compact, `__metadata__` first, padded with spaces to
 * a multiple of 8 bytes: the same bytes as `safetensors.torch.save_file` for the same tensors.
 *
 * Reading: F32, F64, F16, BF16 and U8 are read into float32 Tensors (F16, BF16, U8: exactly; F64:
 * rounded to the nearest float32, beyond the float32 range to ±Infinity). With
 * `{ keepDtype: true }`, F16, BF16 and U8 become float16, bfloat16 and uint8 Tensors holding the
 * file's bits. Other dtypes are refused.
 *
 * Errors (the message always says what is wrong and, where it applies, which tensor):
 * - `RangeError`: sizes and offsets: a file shorter than 8 bytes, a header length beyond the end of
 *   the file or above 100,000,000 bytes (the reference reader's limit), a tensor whose byte range
 *   does not match its shape and dtype, offsets beyond the data buffer, overlapping tensors, bytes
 *   of the data buffer that belong to no tensor, more elements than a Tensor may hold.
 * - `TypeError`: structure: a header that is not UTF-8, does not start with '{', is not JSON or not
 *   a JSON object; a tensor entry that is not an object or has missing or extra fields or fields of
 *   the wrong type; an unknown or unsupported dtype; `__metadata__` that is not an object of
 *   strings. When writing: arguments of the wrong type, a tensor named `__metadata__`, names or
 *   metadata that are not well-formed Unicode.
 */
export type { SafetensorsContents, SafetensorsDtype, SafetensorsReadOptions } from './safetensors/format.js';
export { encodeSafetensors, saveSafetensors } from './safetensors/writer.js';
export { decodeSafetensors, loadSafetensors, parseSafetensors } from './safetensors/reader.js';
