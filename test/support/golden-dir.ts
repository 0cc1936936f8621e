// Where the shared reference data lives. By default the folder golden/ of the shared data beside the
// repository (../shared/golden from the repository root); SPIKELAYERS_GOLDEN_DIR names another folder
// with the same files (the GPU check carries them inside its pack and points here). The variables
// naming a single file (SPIKELAYERS_GOLDEN, SPIKELAYERS_NETWORK_GOLDEN, ...) still win over both.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// this file runs as dist/test/support/golden-dir.js
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** The golden folder: $SPIKELAYERS_GOLDEN_DIR, else ../shared/golden from the repository root. */
export const goldenDir = path.resolve(process.env.SPIKELAYERS_GOLDEN_DIR || path.resolve(repoRoot, '../shared/golden'));

/** A file of the golden folder, e.g. goldenFile('network_cases.json'). */
export function goldenFile(name: string): string {
  return path.join(goldenDir, name);
}
