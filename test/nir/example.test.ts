// examples/nir-roundtrip.ts runs here: in process (its exported main()) on the golden s09 file and
// on s13 (a file of a layer on (B, T, N) input), and as a program; a missing file is a clear error.
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { defaultNirFile, main, sensorFrame } from '../../examples/nir-roundtrip.js';
import { Rng } from '../../lib/rng.js';

const exampleJs = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'examples', 'nir-roundtrip.js');
const present = existsSync(defaultNirFile());
if (!present) console.log(`  (nir-roundtrip example tests on golden files skipped: no ${defaultNirFile()})`);

describe('examples/nir-roundtrip', function () {
  it('the sensor frames: a bar sweeping across W, ON events where it arrives and OFF where it leaves', function () {
    const rng = { next: () => 1 } as unknown as Rng; // no noise events
    const f = sensorFrame([2, 2, 4], 1, rng);
    expect(Array.from(f)).to.deep.equal([0, 1, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0]);
  });

  it('a missing file: an Error that says what to pass', async function () {
    let err: Error | null = null;
    try {
      await main({ file: join('no', 'such', 'model.nir'), log: () => {} });
    } catch (e) {
      err = e as Error;
    }
    expect(err).to.be.instanceOf(Error);
    expect(err!.message).to.include("no NIR file at 'no/such/model.nir'");
    expect(err!.message).to.include('--file');
  });

  (present ? it : it.skip)(
    'main(): s09 streamed in chunks equals one call; exported with nothing lost; read back the same',
    async function () {
      const lines: string[] = [];
      const r = await main({ frames: 100, chunkSteps: 16, log: (l) => lines.push(l) });
      expect(r.layers).to.deep.equal([
        '0 Conv2d',
        '1 IAFSqueeze',
        '2 SumPool2d',
        '3 Flatten',
        '4 Linear',
        '5 IAFSqueeze',
      ]);
      expect(r.sampleShape).to.deep.equal([2, 8, 8]);
      expect(r.chunks).to.equal(7); // 6 x 16 + 4
      expect(r.streamedEqualsOneCall).to.equal(true);
      expect(r.rereadEqual).to.equal(true);
      expect(r.lost).to.deep.equal([]);
      expect(r.spikes).to.have.length(5);
      expect(r.spikes.reduce((a, b) => a + b, 0)).to.be.greaterThan(0);
      expect(lines).to.include('export: nothing lost (every layer option is one NIR expresses)');
      expect(lines.at(-1)).to.equal('wrote the nir current layout, read it back: the same spikes');
    },
  );

  (present ? it : it.skip)('main() on s13 with the 1.0.4 layout and chunks of 7', async function () {
    const file = join(dirname(defaultNirFile()), 's13_linear_lif_unsqueezed.nir');
    const r = await main({ file, frames: 30, chunkSteps: 7, nirVersion: '1.0.4', log: () => {} });
    expect(r.sampleShape).to.deep.equal([10, 4]);
    expect(r.chunks).to.equal(5);
    expect(r.streamedEqualsOneCall && r.rereadEqual).to.equal(true);
    expect(r.lost).to.deep.equal([]);
  });

  (present ? it : it.skip)('as a program: exit status 0 and the report lines', async function () {
    const { stdout } = await promisify(execFile)(process.execPath, [exampleJs, '--frames', '40', '--chunk', '9']);
    expect(stdout).to.match(
      /^loaded .*s09_conv_iaf_sumpool_linear_iaf\.nir \(nir 1\.0\.8\.dev9\+g7232ada\): 0 Conv2d -> /,
    );
    expect(stdout).to.include('streamed 40 frames in 5 chunks of up to 9');
    expect(stdout).to.include('export: nothing lost');
    let code = 0;
    try {
      await promisify(execFile)(process.execPath, [exampleJs, '--file', 'missing.nir']);
    } catch (e) {
      code = (e as { code: number }).code;
    }
    expect(code).to.equal(1);
  });
});
