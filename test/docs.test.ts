// The API reference (docs/API.md) is generated from the declaration files tsc emits
// (scripts/gen-api-docs.mjs). This regenerates it in memory and checks that the committed file is
// up to date, so that the reference cannot silently drift from the code, and that every public
// name has a section in it.
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as api from '../lib/index.js';

// This file runs as dist/test/docs.test.js: the repository is two levels up. The script is plain
// JavaScript outside the compiled tree, so it is imported at run time by URL; its types come from
// scripts/gen-api-docs.d.mts.
const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
type GenApiDocs = typeof import('../scripts/gen-api-docs.mjs');

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('docs/API.md', () => {
  let generated: string;
  let committed: string;

  before(async () => {
    const { generate } = (await import(pathToFileURL(join(repo, 'scripts', 'gen-api-docs.mjs')).href)) as GenApiDocs;
    generated = generate();
    committed = readFileSync(join(repo, 'docs', 'API.md'), 'utf8').replace(/\r\n/g, '\n');
  });

  it('is up to date with the declarations (regenerate with `npm run docs`)', () => {
    if (generated === committed) return;
    const a = committed.split('\n'), b = generated.split('\n');
    let k = 0;
    while (k < a.length && k < b.length && a[k] === b[k]) ++k;
    expect.fail(
      `docs/API.md is out of date: run \`npm run docs\`. First difference at line ${k + 1}:\n` +
        `  docs/API.md: ${JSON.stringify(a[k] ?? '<end of file>')}\n` +
        `  generated:   ${JSON.stringify(b[k] ?? '<end of file>')}`,
    );
  });

  it('has a section heading for every value lib/index.ts exports', () => {
    const names = Object.keys(api);
    expect(names.length).to.be.greaterThan(30);
    const missing = names.filter((n) => !new RegExp(`^### (?:abstract class|class|interface|type|function|const|enum|namespace) ${escape(n)}$`, 'm').test(generated));
    expect(missing, 'exports without a heading in docs/API.md').to.deep.equal([]);
  });

  it('has a section heading for every type lib/index.ts exports', () => {
    // type-only exports do not exist at run time: read them from the source's export lists
    const src = readFileSync(join(repo, 'lib', 'index.ts'), 'utf8');
    const types = [...src.matchAll(/\btype\s+([A-Za-z_$][\w$]*)\s*[,}\n]/g)].map((m) => m[1]!);
    expect(types).to.include.members(['LIFOptions', 'TensorOptions', 'SafetensorsContents', 'Optimizer']);
    const missing = types.filter((n) => !new RegExp(`^### (?:interface|type|class) ${escape(n)}$`, 'm').test(generated));
    expect(missing, 'type exports without a heading in docs/API.md').to.deep.equal([]);
  });

  it('lists every section in the table of contents, and every link leads to a heading', () => {
    // GitHub's anchors: lower case, punctuation dropped, spaces to '-', repeats numbered -1, -2, ...
    const slug = (h: string): string => h.toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').trim().replace(/\s/g, '-');
    const seen = new Map<string, number>();
    const anchors = new Set<string>();
    for (const m of generated.matchAll(/^#{1,6} (.+)$/gm)) {
      const base = slug(m[1]!);
      const n = seen.get(base) ?? 0;
      seen.set(base, n + 1);
      anchors.add(n === 0 ? base : `${base}-${n}`);
    }
    const toc = generated.slice(generated.indexOf('## Contents'), generated.indexOf('\n## ', generated.indexOf('## Contents') + 1));
    for (const m of generated.matchAll(/^### (.+)$/gm)) expect(toc, `table of contents: ${m[1]}`).to.include(`(#${slug(m[1]!)})`);
    const links = [...generated.matchAll(/\]\(#([^)]+)\)/g)].map((m) => m[1]!);
    expect(links.length).to.be.greaterThan(60);
    expect(links.filter((l) => !anchors.has(l)), 'links to no heading').to.deep.equal([]);
  });

  it('documents no internal members', () => {
    expect(generated).to.not.match(/^#### \w+\.(_|#)/m);
    expect(generated).to.not.match(/\b_native\(|\b_adopt\(|\b_storage\(|\b_assign\(|#private/);
    expect(generated).to.not.include('@internal');
  });
});
