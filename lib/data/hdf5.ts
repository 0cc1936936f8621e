// Opening HDF5 files for reading with h5wasm (the HDF5 library compiled to WebAssembly, loaded on
// first use), with the package's errors: a missing file or one that is not HDF5 is ERR_DATA_FILE,
// named by the caller (`what`: 'loadShd', 'readNir').
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import { ErrorCodes, SpikelayersError } from '../errors.js';
import { describe } from '../tensor.js';

type H5 = (typeof import('h5wasm/node'))['default'];

/** The h5wasm module (ready) and a file of it opened read-only; the caller closes the file. */
export async function openHdf5(path: unknown, what: string): Promise<{ h5: H5; file: InstanceType<H5['File']> }> {
  if (typeof path !== 'string' || path === '')
    throw new TypeError(`${what}: path must be a non-empty string, got ${describe(path)}`);
  if (!existsSync(path) || !statSync(path).isFile())
    throw new SpikelayersError(ErrorCodes.DATA_FILE, `${what}: cannot read '${path}': no such file`);
  if (!hasHdf5Signature(path))
    throw new SpikelayersError(ErrorCodes.DATA_FILE, `${what}: '${path}' is not an HDF5 file (no HDF5 signature)`);
  const h5 = (await import('h5wasm/node')).default;
  await h5.ready;
  let file: InstanceType<H5['File']>;
  try {
    file = new h5.File(path, 'r');
  } catch (e) {
    throw new SpikelayersError(
      ErrorCodes.DATA_FILE,
      `${what}: '${path}' is not a readable HDF5 file (${(e as Error).message})`,
    );
  }
  if (!(file.file_id >= 0n)) {
    file.close();
    throw new SpikelayersError(ErrorCodes.DATA_FILE, `${what}: '${path}' is not a readable HDF5 file`);
  }
  return { h5, file };
}

/** Whether the file has the HDF5 signature at offset 0, 512, 1024, 2048, ... (after a user block). */
export function hasHdf5Signature(path: string): boolean {
  const sig = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];
  const size = statSync(path).size;
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(8);
    for (let at = 0; at + 8 <= size; at = at === 0 ? 512 : at * 2) {
      if (readSync(fd, buf, 0, 8, at) === 8 && sig.every((b, k) => buf[k] === b)) return true;
    }
    return false;
  } finally {
    closeSync(fd);
  }
}
