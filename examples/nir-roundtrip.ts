/**
 * A NIR file in, a NIR file out, with a sensor stream in between.
 *
 *   model.nir  ->  readNir + fromNir  ->  Sequential of squeeze layers (batch size 1)
 *   sensor frames  ->  (1, T, ...) chunks  ->  layerStream  ->  spike counts per output neuron
 *   Sequential  ->  toNir (what is lost?)  ->  writeNir  ->  readNir + fromNir  ->  same spikes?
 *
 * The default file is the golden set's s09 (Conv2d -> IF -> SumPool2d -> Flatten -> Affine -> IF,
 * written by sinabs), whose input is a 2 x 8 x 8 frame per step, like an event camera with ON and OFF
 * channels. The example makes a recording of such frames (a bar sweeping across the sensor: ON
 * events at its leading edge, OFF events at its trailing edge, plus sparse noise events), streams it
 * through the network chunk by chunk, checks that the spikes equal one call over the whole
 * recording, exports the network again, prints what the export reports as lost (nothing, for a
 * model that came from a NIR file), writes it, reads it back and checks that the rebuilt network
 * gives the same spikes. For a model with one value per step ([N] input) the recording is a noisy
 * sine wave per channel.
 *
 *   node dist/examples/nir-roundtrip.js                       # after npm run build:ts
 *   node dist/examples/nir-roundtrip.js --file model.nir --frames 480 --chunk 32 --nir-version 1.0.4
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  Tensor,
  fromNir,
  layerStream,
  readNir,
  toNir,
  writeNir,
  type NirArray,
  type NirLoss,
  type NirVersion,
  type Sequential,
  type StreamableLayer,
} from '../lib/index.js';
import { Rng } from '../lib/rng.js';

/** Options of {@link main}. */
export interface NirRoundtripOptions {
  /** The NIR file to load (default: the golden set's s09, see {@link defaultNirFile}). */
  file?: string;
  /** Number of sensor frames (time steps) in the recording (default 240). */
  frames?: number;
  /** Frames per chunk of the stream (default 16). */
  chunkSteps?: number;
  /** Layout of the file written back: '1.0.4' or 'current' (default). */
  nirVersion?: NirVersion;
  /** Seed of the sensor noise (default 1). */
  seed?: number;
  /** Where the lines go (default console.log). */
  log?: (line: string) => void;
}

/** What {@link main} found. */
export interface NirRoundtripResult {
  /** The file loaded. */
  file: string;
  /** Node ids of the loaded network, in order. */
  layers: string[];
  /** One sample's shape (the file's Input node). */
  sampleShape: number[];
  frames: number;
  chunks: number;
  /** Spikes per output neuron over the recording, counted from the stream. */
  spikes: number[];
  /** Whether the streamed output equals one call over the whole recording, element for element. */
  streamedEqualsOneCall: boolean;
  /** What the export reports as lost (empty for a model imported from NIR). */
  lost: NirLoss[];
  /** Whether the network read back from the written file gives the same output. */
  rereadEqual: boolean;
}

/** The golden set's s09 file: in SPIKELAYERS_NIR_GOLDEN, else in nir/ of SPIKELAYERS_GOLDEN_DIR or of ../shared/golden beside the repository. */
export function defaultNirFile(): string {
  // this file runs as dist/examples/nir-roundtrip.js
  const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const dir =
    process.env.SPIKELAYERS_NIR_GOLDEN ??
    resolve(process.env.SPIKELAYERS_GOLDEN_DIR || resolve(repoRoot, '../shared/golden'), 'nir');
  return join(dir, 's09_conv_iaf_sumpool_linear_iaf.nir');
}

/**
 * One frame of the recording, flattened: for a [C, H, W] sensor a bar sweeping along W (ON events
 * in channel 0 where it arrives, OFF events in channel 1 where it leaves) plus noise events; for
 * [N] a noisy sine wave per channel.
 */
export function sensorFrame(shape: readonly number[], t: number, rng: Rng): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  if (shape.length === 3) {
    const [C, H, W] = shape as [number, number, number];
    const bar = t % W;
    for (let c = 0; c < C; ++c)
      for (let y = 0; y < H; ++y)
        for (let x = 0; x < W; ++x) {
          const edge = c % 2 === 0 ? x === bar : x === (bar + W - 1) % W;
          const noise = rng.next() < 0.02;
          out[(c * H + y) * W + x] = edge || noise ? 1 : 0;
        }
  } else {
    for (let k = 0; k < n; ++k) out[k] = 0.6 + 0.5 * Math.sin((2 * Math.PI * t) / (20 + 3 * k)) + 0.3 * rng.next();
  }
  return out;
}

/**
 * The network as a stream layer over (1, T, ...) chunks: its squeeze layers take (B*T, ...) rows,
 * which for batch size 1 are the chunk's T frames; the state carries from chunk to chunk.
 */
function asStreamLayer(net: Sequential): StreamableLayer {
  return {
    async forwardAsync(x: Tensor): Promise<Tensor> {
      const [, T, ...rest] = x.shape as [number, number, ...number[]];
      const y = await net.forwardAsync(x.reshape([T, ...rest]));
      return y.reshape([1, ...y.shape]);
    },
    eval: () => net.eval(),
  };
}

/** Loads, streams, exports, writes, reads back; see the file's header. */
export async function main(options: NirRoundtripOptions = {}): Promise<NirRoundtripResult> {
  const log = options.log ?? ((l: string) => console.log(l));
  const file = options.file ?? defaultNirFile();
  if (!existsSync(file))
    throw new Error(
      `nir-roundtrip: no NIR file at '${file}'. Pass --file path/to/model.nir, or set SPIKELAYERS_NIR_GOLDEN to the folder of the golden NIR files (shared/golden/nir)`,
    );
  const frames = options.frames ?? 240,
    chunkSteps = options.chunkSteps ?? 16;
  const graph = await readNir(file);
  const net = fromNir(graph, { batchSize: 1 });
  const input = Object.entries(graph.nodes).find(([, n]) => n.type === 'Input')!;
  const sampleShape = Array.from((input[1].params.shape as NirArray).data, Number);
  const layers = net.namedChildren().map(([id, m]) => `${id} ${(m as { typeName?: string }).typeName ?? ''}`.trim());
  log(
    `loaded ${file} (nir ${graph.version ?? '?'}): ${layers.join(' -> ')}; input ${JSON.stringify(sampleShape)} per step`,
  );

  // the recording, and the chunks the stream gets
  const rng = new Rng(options.seed ?? 1);
  const n = sampleShape.reduce((a, b) => a * b, 1);
  const recording = new Float32Array(frames * n);
  for (let t = 0; t < frames; ++t) recording.set(sensorFrame(sampleShape, t, rng), t * n);
  function* chunks(): Generator<Tensor> {
    for (let t0 = 0; t0 < frames; t0 += chunkSteps) {
      const T = Math.min(chunkSteps, frames - t0);
      yield Tensor.from(recording.subarray(t0 * n, (t0 + T) * n), [1, T, ...sampleShape]);
    }
  }

  // stream it
  net.resetStates();
  const outputs: Float32Array[] = [];
  let count = 0;
  await pipeline(
    Readable.from(chunks()),
    layerStream(asStreamLayer(net)),
    new Writable({
      objectMode: true,
      write(y: Tensor, _enc, cb) {
        outputs.push(y.toFloat32Array());
        y.dispose();
        count += 1;
        cb();
      },
    }),
  );
  const streamed = concat(outputs);
  const outN = streamed.length / frames;
  const spikes = new Array<number>(outN).fill(0);
  for (let k = 0; k < streamed.length; ++k) spikes[k % outN]! += streamed[k]!;
  log(
    `streamed ${frames} frames in ${count} chunks of up to ${chunkSteps}: ${spikes.reduce((a, b) => a + b, 0)} output spikes`,
  );
  log(`spikes per output neuron: ${spikes.join(' ')}`);

  // one call over the whole recording
  const all = Tensor.from(recording, [frames, ...sampleShape]);
  net.resetStates();
  const once = net.forward(all).toFloat32Array();
  const streamedEqualsOneCall = same(streamed, once);
  log(`one call over all ${frames} frames gives ${streamedEqualsOneCall ? 'the same' : 'DIFFERENT'} spikes`);

  // export again, and what NIR could not carry
  const exported = toNir(net, { inputShape: sampleShape, allowLossy: true });
  if (exported.lost.length === 0) log('export: nothing lost (every layer option is one NIR expresses)');
  else {
    log(`export: ${exported.lost.length} option(s) lost:`);
    for (const l of exported.lost)
      log(`  layer ${l.index} ('${l.layer}', ${l.type}): ${l.option} = ${l.value} -> ${l.nir}`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'spikelayers-nir-roundtrip-'));
  let rereadEqual: boolean;
  try {
    const out = join(dir, 'model.nir');
    const nirVersion = options.nirVersion ?? 'current';
    await writeNir(out, exported, { nirVersion });
    const back = fromNir(await readNir(out), { batchSize: 1 });
    rereadEqual = same(back.forward(all).toFloat32Array(), once);
    log(`wrote the nir ${nirVersion} layout, read it back: ${rereadEqual ? 'the same' : 'DIFFERENT'} spikes`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return {
    file,
    layers,
    sampleShape,
    frames,
    chunks: count,
    spikes,
    streamedEqualsOneCall,
    lost: exported.lost,
    rereadEqual,
  };
}

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
const same = (a: Float32Array, b: Float32Array): boolean => a.length === b.length && a.every((x, k) => x === b[k]);

const USAGE =
  'usage: node dist/examples/nir-roundtrip.js [--file model.nir] [--frames N] [--chunk T] [--nir-version 1.0.4|current] [--seed S]';

async function cli(): Promise<void> {
  let args: { file?: string; frames?: string; chunk?: string; seed?: string; 'nir-version'?: string; help?: boolean };
  try {
    ({ values: args } = parseArgs({
      options: {
        file: { type: 'string' },
        frames: { type: 'string', default: '240' },
        chunk: { type: 'string', default: '16' },
        seed: { type: 'string', default: '1' },
        'nir-version': { type: 'string', default: 'current' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (e) {
    console.error(`${(e as Error).message}\n${USAGE}`);
    process.exit(2);
  }
  if (args.help) {
    console.log(USAGE);
    return;
  }
  const int = (name: string, v: string, min: number): number => {
    const x = Number(v);
    if (!Number.isInteger(x) || x < min) {
      console.error(`--${name} must be an integer >= ${min}, got '${v}'\n${USAGE}`);
      process.exit(2);
    }
    return x;
  };
  const v = args['nir-version']!;
  if (v !== '1.0.4' && v !== 'current') {
    console.error(`--nir-version must be 1.0.4 or current, got '${v}'\n${USAGE}`);
    process.exit(2);
  }
  const r = await main({
    ...(args.file !== undefined ? { file: args.file } : {}),
    frames: int('frames', args.frames!, 1),
    chunkSteps: int('chunk', args.chunk!, 1),
    seed: int('seed', args.seed!, 0),
    nirVersion: v,
  });
  if (!r.streamedEqualsOneCall || !r.rereadEqual) process.exitCode = 1;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  cli().catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : e);
    process.exitCode = 1;
  });
}
