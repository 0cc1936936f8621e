// Every LIF case of the sinabs 3.1.3 golden file, through the public API: spikes exactly,
// states/recordings/gradients within each case's suggested tolerance against the f64 columns.
// Forward calls of a segment are backwarded in reverse order before each cut.
import { expect } from 'chai';
import { goldenPath, loadGolden, runGoldenCase } from './support/golden.js';

const cases = loadGolden();

describe('golden: sinabs 3.1.3 LIF reference vectors', function () {
  if (!cases) {
    it('golden file present', function () {
      if (process.env.CI) expect.fail(`golden file not found at ${goldenPath}`);
      console.log(`      skipped: golden file not found at ${goldenPath} (set SPIKELAYERS_GOLDEN)`);
      this.skip();
    });
    return;
  }
  it('holds the expected cases', function () {
    expect(cases.filter((c) => c.layer === 'LIF').length).to.be.greaterThan(80);
    expect(cases.filter((c) => c.layer !== 'LIF').length).to.be.greaterThan(4);
  });
  for (const c of cases) {
    it(`${c.name} (${c.layer}) [${c.tags.filter((t) => !t.startsWith('layer:')).join(' ')}]`, function () {
      runGoldenCase(c);
    });
  }
});
