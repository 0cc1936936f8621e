/**
 * Turns a file of sensor frames into spikes with a Node stream pipeline.
 *
 *   file of float32 frames  ->  fs.createReadStream  ->  frames to (1, T, C) Tensors
 *                           ->  layerStream(LIF)     ->  spike counter per channel
 *
 * The example first writes a small recording to a temporary directory: 8 channels x 1000 frames of
 * noisy sine waves, channel c with a larger amplitude than channel c - 1, stored frame after frame
 * as little-endian float32 (frame f, channel c at byte 4 * (f * C + c)). It then streams the file
 * through a LIF layer 50 frames at a time. The layer keeps its membrane state from one chunk to the
 * next, so the spikes are those of one call over the whole recording; the example checks that at
 * the end. The file is read in pieces that do not line up with frames (1000 bytes), as a real
 * file or socket would deliver them.
 *
 *   node dist/examples/sensor-stream.js                       # after npm run build:ts
 *   node dist/examples/sensor-stream.js --frames 5000 --chunk 64
 */
import { createReadStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Transform, Writable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { LIF, Tensor } from '../lib/index.js';
import { layerStream } from '../lib/index.js';

/** Options of {@link main}. */
export interface SensorStreamOptions {
  /** Number of sensor channels (default 8). */
  channels?: number;
  /** Number of frames in the recording (default 1000). */
  frames?: number;
  /** Frames per Tensor chunk, T (default 50). */
  chunkSteps?: number;
  /** Bytes per read from the file (default 1000: deliberately not a multiple of a frame). */
  readBytes?: number;
  /** Seed of the noise (default 1). */
  seed?: number;
  /** Where progress and the table go (default console.log). */
  log?: (line: string) => void;
}

/** What {@link main} found. */
export interface SensorStreamResult {
  /** Number of frames in the recording. */
  frames: number;
  /** Number of Tensor chunks streamed through the layer. */
  chunks: number;
  /** Spikes per channel, counted from the stream. */
  spikes: number[];
  /** Spikes per channel from one forward call over the whole recording. */
  spikesOneCall: number[];
  /** Whether the streamed spikes equal the one-call spikes, element for element. */
  identical: boolean;
  /** Wall-clock seconds of the streaming part. */
  seconds: number;
}

/** Amplitude of channel c's sine wave: channel 0 stays below the threshold, the last one far above. */
export const amplitude = (c: number): number => 0.1 + 0.2 * c;
/** Period of channel c's sine wave, in frames. */
export const period = (c: number): number => 40 + 15 * c;

/**
 * Writes a recording of `frames` frames of `channels` float32 values (little-endian, frame-major):
 * 0.6 + amplitude(c) * sin(2 pi f / period(c)) + noise.
 */
export function writeSensorFile(path: string, channels: number, frames: number, seed: number): void {
  let s = seed >>> 0;
  const uniform = (): number => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
  const buf = Buffer.alloc(4 * channels * frames);
  for (let f = 0; f < frames; ++f)
    for (let c = 0; c < channels; ++c) {
      const noise = 0.15 * (uniform() + uniform() + uniform() - 1.5);
      buf.writeFloatLE(0.6 + amplitude(c) * Math.sin((2 * Math.PI * f) / period(c)) + noise, 4 * (f * channels + c));
    }
  writeFileSync(path, buf);
}

/**
 * A Transform from bytes (frames of `channels` little-endian float32 values) to Tensors of shape
 * (1, steps, channels). Byte pieces may split frames anywhere. At the end, the remaining frames
 * form a shorter last chunk; a partial frame is an error.
 */
export function framesToTensors(channels: number, steps: number): Transform {
  const frameBytes = 4 * channels;
  const chunkBytes = frameBytes * steps;
  let pending: Buffer = Buffer.alloc(0);
  const toTensor = (bytes: Buffer): Tensor => bytesToTensor(bytes, channels);
  return new Transform({
    writableObjectMode: false,
    readableObjectMode: true,
    readableHighWaterMark: 4,
    transform(piece: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
      pending = pending.length ? Buffer.concat([pending, piece]) : piece;
      let at = 0;
      for (; pending.length - at >= chunkBytes; at += chunkBytes)
        this.push(toTensor(pending.subarray(at, at + chunkBytes)));
      pending = pending.subarray(at);
      callback();
    },
    flush(callback: TransformCallback) {
      if (pending.length % frameBytes !== 0) {
        callback(
          new RangeError(
            `the recording ends inside a frame: ${pending.length % frameBytes} bytes left over (a frame is ${frameBytes} bytes)`,
          ),
        );
        return;
      }
      callback(null, pending.length ? toTensor(pending) : undefined);
    },
  });
}

/** Whole frames of `channels` little-endian float32 values as a (1, frames, channels) Tensor. */
export function bytesToTensor(bytes: Buffer, channels: number): Tensor {
  const data = new Float32Array(bytes.length / 4);
  for (let k = 0; k < data.length; ++k) data[k] = bytes.readFloatLE(4 * k);
  return Tensor.from(data, [1, data.length / channels, channels]);
}

/** Spikes per channel in a (B, T, C) spike tensor. */
function countPerChannel(spikes: Tensor, into: number[]): void {
  const C = into.length;
  const d = spikes.toFloat32Array();
  for (let k = 0; k < d.length; ++k) into[k % C]! += d[k]!;
}

/**
 * Runs the example: writes the recording, streams it through a LIF layer, prints progress and a
 * per-channel table, checks the streamed spikes against one call, and removes the recording.
 */
export async function main(options: SensorStreamOptions = {}): Promise<SensorStreamResult> {
  const C = options.channels ?? 8;
  const frames = options.frames ?? 1000;
  const steps = options.chunkSteps ?? 50;
  const log = options.log ?? ((line: string) => console.log(line));
  const dir = mkdtempSync(join(tmpdir(), 'spikelayers-sensor-'));
  try {
    const file = join(dir, 'frames.f32');
    writeSensorFile(file, C, frames, options.seed ?? 1);
    log(`recording: ${frames} frames x ${C} channels of float32 (${4 * C * frames} bytes) in ${file}`);

    const layerOptions = { tauMem: 5, spikeThreshold: 1 };
    const lif = new LIF(layerOptions);
    const spikes = new Array<number>(C).fill(0);
    const totalChunks = Math.ceil(frames / steps);
    let chunks = 0,
      framesDone = 0;
    const streamed: Tensor[] = [];
    const counter = new Writable({
      objectMode: true,
      highWaterMark: 4,
      write(out: Tensor, _encoding, callback) {
        countPerChannel(out, spikes);
        streamed.push(out);
        chunks += 1;
        framesDone += out.shape[1]!;
        if (chunks % 5 === 0 || chunks === totalChunks)
          log(
            `  chunk ${String(chunks).padStart(3)}/${totalChunks}: ${framesDone} frames, ${spikes.reduce((a, b) => a + b, 0)} spikes so far`,
          );
        callback();
      },
    });

    const t0 = performance.now();
    await pipeline(
      createReadStream(file, { highWaterMark: options.readBytes ?? 1000 }),
      framesToTensors(C, steps),
      layerStream(lif),
      counter,
    );
    const seconds = (performance.now() - t0) / 1000;

    // the same recording in one call, on a fresh layer
    const whole = new LIF(layerOptions).eval().forward(bytesToTensor(readFileSync(file), C));
    const spikesOneCall = new Array<number>(C).fill(0);
    countPerChannel(whole, spikesOneCall);
    const a = whole.toFloat32Array();
    const b = new Float32Array(a.length);
    // streamed chunks are (1, T_k, C): concatenated along time they are (1, frames, C)
    let at = 0;
    for (const s of streamed) {
      b.set(s.toFloat32Array(), at);
      at += s.size;
    }
    const identical = at === a.length && a.every((v, k) => Object.is(v, b[k]));

    log('');
    log('channel  amplitude  period  spikes  spikes/frame');
    for (let c = 0; c < C; ++c)
      log(
        `${String(c).padStart(7)}  ${amplitude(c).toFixed(2).padStart(9)}  ${String(period(c)).padStart(6)}  ` +
          `${String(spikes[c]).padStart(6)}  ${(spikes[c]! / frames).toFixed(3).padStart(12)}`,
      );
    log('');
    log(
      `${chunks} chunks of up to ${steps} frames streamed in ${(seconds * 1000).toFixed(1)} ms; ` +
        `one call over all ${frames} frames gives ${identical ? 'the same spikes' : 'DIFFERENT spikes'}`,
    );
    return { frames, chunks, spikes, spikesOneCall, identical, seconds };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---- command line -------------------------------------------------------------------------------

const USAGE = 'usage: node dist/examples/sensor-stream.js [--frames N] [--chunk T] [--seed S]';

async function cli(): Promise<void> {
  let args: { frames?: string; chunk?: string; seed?: string; help?: boolean };
  try {
    ({ values: args } = parseArgs({
      options: {
        frames: { type: 'string', default: '1000' },
        chunk: { type: 'string', default: '50' },
        seed: { type: 'string', default: '1' },
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
  const result = await main({
    frames: int('frames', args.frames!, 1),
    chunkSteps: int('chunk', args.chunk!, 1),
    seed: int('seed', args.seed!, 0),
  });
  if (!result.identical) process.exitCode = 1;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  cli().catch((e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  });
}
