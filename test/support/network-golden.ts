// Reads the network reference vectors (../shared/golden/network_cases.json beside the repository;
// SPIKELAYERS_NETWORK_GOLDEN may point elsewhere). Returns null when the file is absent.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export interface NetResult { shape: number[]; f32: number[]; f64: number[] }
export interface NetCall {
  op: string;
  T?: number;
  labels?: number[];
  output?: NetResult;
  intermediate?: Record<string, NetResult>;
  loss?: NetResult;
}
export interface NetCase {
  name: string;
  tags: string[];
  batch_size: number;
  input_layout: string;
  loss: { type: string } | null;
  modules: Array<Record<string, any> & { type: string }>;
  calls: NetCall[];
  suggested_tolerance: { forward_rtol: number; loss_rtol?: number };
}

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const networkGoldenPath = process.env.SPIKELAYERS_NETWORK_GOLDEN ?? path.resolve(repoRoot, '../shared/golden/network_cases.json');

export function loadNetworkGolden(): NetCase[] | null {
  if (!existsSync(networkGoldenPath)) return null;
  return (JSON.parse(readFileSync(networkGoldenPath, 'utf8')) as { cases: NetCase[] }).cases;
}
