// The examples run inside the tests: examples/sensor-stream.ts in process (its exported main()) and
// as a program (node dist/examples/sensor-stream.js), with checks that its output makes sense.
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Tensor } from '../lib/index.js';
import { amplitude, framesToTensors, main, writeSensorFile } from '../examples/sensor-stream.js';

const exampleJs = join(dirname(fileURLToPath(import.meta.url)), '..', 'examples', 'sensor-stream.js');

describe('examples/sensor-stream', () => {
  it('main(): streams 1000 frames x 8 channels in 20 chunks, the spikes equal one call, in under 5 s', async () => {
    const lines: string[] = [];
    const t0 = performance.now();
    const r = await main({ log: (l) => lines.push(l) });
    const seconds = (performance.now() - t0) / 1000;
    expect(seconds, 'the whole example').to.be.below(5);
    expect(r.frames).to.equal(1000);
    expect(r.chunks).to.equal(20);
    expect(r.spikes).to.have.length(8);
    expect(r.identical, 'streamed spikes equal one call').to.equal(true);
    expect(r.spikes).to.deep.equal(r.spikesOneCall);
    // channel 0 never reaches the threshold (0.6 + 0.1 + noise <= 0.925 < 1); bigger waves spike more
    expect(r.spikes[0]).to.equal(0);
    expect(r.spikes[7]).to.be.greaterThan(20);
    for (let c = 1; c < 8; ++c)
      expect(r.spikes[c]!, `channel ${c} (amplitude ${amplitude(c)})`).to.be.at.least(r.spikes[c - 1]!);
    // progress lines, the table (a header and one row per channel) and the closing line
    expect(lines.filter((l) => /^ {2}chunk +\d+\/20: \d+ frames, \d+ spikes so far$/.test(l))).to.have.length(4);
    const header = lines.findIndex((l) => l.startsWith('channel  amplitude  period  spikes'));
    expect(header).to.be.greaterThan(0);
    for (let c = 0; c < 8; ++c) {
      const cells = lines[header + 1 + c]!.trim().split(/\s+/).map(Number);
      expect(cells[0]).to.equal(c);
      expect(cells[3]).to.equal(r.spikes[c]);
    }
    expect(lines.at(-1)).to.match(
      /^20 chunks of up to 50 frames streamed in [\d.]+ ms; one call over all 1000 frames gives the same spikes$/,
    );
  });

  it('main() with chunks that do not divide the recording and reads of odd sizes', async () => {
    const r = await main({ frames: 777, chunkSteps: 64, readBytes: 333, channels: 5, seed: 3, log: () => {} });
    expect(r.chunks).to.equal(13); // 12 x 64 + 9
    expect(r.identical).to.equal(true);
  });

  it('the framing Transform rejects a recording that ends inside a frame', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'spikelayers-ex-'));
    try {
      const file = join(dir, 'f.f32');
      writeSensorFile(file, 4, 10, 1);
      const bytes = readFileSync(file).subarray(0, 4 * 4 * 10 - 4); // 9 frames and 12 bytes
      const seen: Tensor[] = [];
      const sink = new Writable({
        objectMode: true,
        write(t: Tensor, _e, cb) {
          seen.push(t);
          cb();
        },
      });
      let err: Error | null = null;
      try {
        await pipeline(Readable.from([bytes]), framesToTensors(4, 3), sink);
      } catch (e) {
        err = e as Error;
      }
      expect(err).to.be.instanceOf(RangeError);
      expect(err!.message).to.equal('the recording ends inside a frame: 12 bytes left over (a frame is 16 bytes)');
      expect(seen.map((t) => t.shape)).to.deep.equal([
        [1, 3, 4],
        [1, 3, 4],
        [1, 3, 4],
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('runs as a program: node dist/examples/sensor-stream.js exits 0 and prints the table', async () => {
    expect(existsSync(exampleJs), exampleJs).to.equal(true);
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [exampleJs], { timeout: 60_000 });
    expect(stderr).to.equal('');
    expect(stdout).to.match(/^recording: 1000 frames x 8 channels of float32 \(32000 bytes\)/);
    expect(stdout).to.match(
      /\nchannel {2}amplitude {2}period {2}spikes {2}spikes\/frame\n( +\d+ +[\d.]+ +\d+ +\d+ +[\d.]+\n){8}/,
    );
    expect(stdout).to.match(/gives the same spikes\n$/);
    // bad arguments: exit status 2 and the usage line
    const bad = await promisify(execFile)(process.execPath, [exampleJs, '--chunk', '0']).then(
      () => null,
      (e: { code: number; stderr: string }) => e,
    );
    expect(bad?.code).to.equal(2);
    expect(bad?.stderr).to.match(/--chunk must be an integer >= 1, got '0'\nusage:/);
  });
});
