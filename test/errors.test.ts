// The error table (lib/errors.ts) against the sources and the README: every code the TypeScript
// or native sources attach to an error is in ErrorCodes/ERROR_TABLE, the table's class is what
// is thrown, and the README documents each code with its class.
import { expect } from 'chai';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ERROR_TABLE, codedError, fromNative } from '../lib/errors.js';
import { ErrorCodes, LIF, SpikelayersError, Tensor } from '../lib/index.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

function filesUnder(dir: string, exts: string[]): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...filesUnder(p, exts));
    else if (exts.some((e) => name.endsWith(e))) out.push(p);
  }
  return out;
}

describe('error codes', function () {
  const sources = [
    ...filesUnder(join(repo, 'lib'), ['.ts']),
    ...filesUnder(join(repo, 'native'), ['.h', '.cc', '.cu']),
  ];

  it('every ERR_ code in lib/ and native/ is in ErrorCodes and ERROR_TABLE', function () {
    expect(sources.length).to.be.greaterThan(20);
    const used = new Set<string>();
    for (const f of sources)
      for (const m of readFileSync(f, 'utf8').matchAll(/\bERR_[A-Z0-9_]*[A-Z0-9]\b/g)) used.add(m[0]);
    // ERR_CUDA_* in comments is a family name, not a code
    used.delete('ERR_CUDA');
    expect(used.size).to.be.greaterThan(10);
    const codes = new Set<string>(Object.values(ErrorCodes));
    expect(
      [...used].filter((c) => !codes.has(c)),
      'codes missing from ErrorCodes',
    ).to.deep.equal([]);
    expect(Object.keys(ERROR_TABLE).sort()).to.deep.equal([...codes].sort());
  });

  it('lib/ writes codes only through ErrorCodes (no raw code strings outside lib/errors.ts)', function () {
    const raw: string[] = [];
    for (const f of sources.filter((p) => p.endsWith('.ts') && !p.endsWith(join('lib', 'errors.ts'))))
      for (const m of readFileSync(f, 'utf8').matchAll(/['"]ERR_[A-Z0-9_]+['"]/g)) raw.push(`${f}: ${m[0]}`);
    expect(raw).to.deep.equal([]);
  });

  it('the README documents every code with its class and meaning', function () {
    const readme = readFileSync(join(repo, 'README.md'), 'utf8');
    for (const [code, e] of Object.entries(ERROR_TABLE))
      expect(readme, code).to.include(`| \`${code}\` | \`${e.class}\` | ${e.meaning} |`);
  });

  it('codedError builds the class the table names, carrying the code', function () {
    for (const [code, e] of Object.entries(ERROR_TABLE)) {
      const err = codedError(code as keyof typeof ERROR_TABLE, 'm');
      expect(err.code).to.equal(code);
      expect(err.message).to.equal('m');
      const cls = { SpikelayersError, RangeError, TypeError }[e.class];
      expect(err, code).to.be.instanceOf(cls);
    }
  });

  it('a native Error with a known code becomes the table class; others pass through', function () {
    const native = Object.assign(new Error('out of memory'), { code: 'ERR_CUDA_OUT_OF_MEMORY' });
    const e = fromNative(native) as SpikelayersError;
    expect(e).to.be.instanceOf(SpikelayersError);
    expect(e.code).to.equal('ERR_CUDA_OUT_OF_MEMORY');
    expect(e.message).to.equal('out of memory');
    const other = Object.assign(new Error('x'), { code: 'ENOENT' });
    expect(fromNative(other)).to.equal(other);
    const range = new RangeError('r');
    expect(fromNative(range)).to.equal(range);
  });

  it('thrown errors match the table: ERR_NOTHING_PENDING is a RangeError, ERR_LAYER_BUSY and ERR_TENSOR_DISPOSED SpikelayersErrors', async function () {
    const l = new LIF({ tauMem: 5 });
    const g = Tensor.zeros([1, 2, 3]);
    let err: unknown;
    try {
      l.backward(g);
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(RangeError);
    expect((err as { code?: string }).code).to.equal(ErrorCodes.NOTHING_PENDING);
    const p = l.forwardAsync(Tensor.zeros([1, 2, 3]));
    expect(() => l.forward(g))
      .to.throw(SpikelayersError)
      .with.property('code', ErrorCodes.LAYER_BUSY);
    await p;
    const t = Tensor.zeros([1]);
    t.dispose();
    expect(() => t.toArray())
      .to.throw(SpikelayersError)
      .with.property('code', ErrorCodes.DISPOSED);
  });
});
