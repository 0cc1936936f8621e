// Generates the API reference, docs/api/ (markdown), from the library's TypeScript sources with
// TypeDoc and typedoc-plugin-markdown (both pinned in tools/package.json, with their TypeScript 5.9).
//
//   npm run docs                                   writes docs/api/ (removes stale pages)
//   node scripts/gen-api-docs.mjs --check          exits 1 when docs/api/ is not what it would write
//   node scripts/gen-api-docs.mjs --out DIR        writes into DIR instead
//
// The reference covers what lib/index.ts exports. Not documented: declarations and members tagged
// @internal, private and #private members, members whose name starts with '_' (the library's
// internal methods such as Tensor._storage), and the native addon's contract (binding.d.ts, every
// name starting with 'Native'). A public signature that names an undocumented type gets a
// warning (TypeDoc's "not exported" validation): the pages are still written, but the command
// exits 1 and the docs test fails, so the reference cannot keep dangling names. The fix is to
// export the type from lib/index.ts (or, for an internal one, to tag it @internal).
// test/docs.test.ts regenerates into a temporary folder and compares it with the committed docs.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stripVTControlCharacters } from 'node:util';
import { Application, Converter, LogLevel, ReflectionKind, loadMarkdownPlugin } from 'spikelayers-devtools/typedoc';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** Where the committed reference lives, relative to the repository. */
export const DOCS_DIR = 'docs/api';

/** Hidden from the reference although exported or public (see the header). */
const isHidden = (name) => name.startsWith('_') || name.startsWith('Native');

/** Removes the hidden reflections before TypeDoc resolves links (a plugin, run as TypeDoc loads). */
function hideInternals(app) {
  app.converter.on(Converter.EVENT_RESOLVE_BEGIN, (context) => {
    const project = context.project;
    for (const r of Object.values(project.reflections)) {
      if (isHidden(r.name) && !r.kindOf(ReflectionKind.Project)) project.removeReflection(r);
    }
  });
}

/**
 * Writes the reference into `outDir` (created, emptied first). Returns the relative paths of the
 * files written, sorted, and TypeDoc's warnings; throws when TypeDoc reports an error.
 */
export async function generate(outDir) {
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const errors = [],
    warnings = [];
  const app = await Application.bootstrapWithPlugins({
    entryPoints: [path.join(REPO, 'lib/index.ts')],
    tsconfig: path.join(REPO, 'tsconfig.docs.json'),
    plugin: [loadMarkdownPlugin, hideInternals],
    out: outDir,
    name: 'spikelayers',
    readme: 'none',
    // deterministic output: no source links (they name a commit), no version, no dates
    disableSources: true,
    disableGit: true,
    sourceLinkTemplate: 'none',
    includeVersion: false,
    excludeInternal: true,
    excludePrivate: true,
    excludeExternals: true,
    skipErrorChecking: true, // tsc checks the sources; TypeDoc only reads them
    validation: { notExported: true, invalidLink: true, notDocumented: false },
    logLevel: LogLevel.Warn,
    // typedoc-plugin-markdown
    hidePageHeader: true,
    hideBreadcrumbs: true,
    useCodeBlocks: true,
    parametersFormat: 'table',
    interfacePropertiesFormat: 'table',
    classPropertiesFormat: 'table',
    typeDeclarationFormat: 'table',
    enumMembersFormat: 'table',
    sanitizeComments: true,
  });
  app.logger.log = (message, level) => {
    const text = stripVTControlCharacters(String(message));
    if (level >= LogLevel.Error) errors.push(text);
    else if (level >= LogLevel.Warn) warnings.push(text);
  };
  const project = await app.convert();
  if (!project || errors.length)
    throw new Error(`gen-api-docs: TypeDoc could not convert lib/index.ts\n${[...errors, ...warnings].join('\n')}`);
  app.validate(project);
  await app.generateOutputs(project);
  if (errors.length) throw new Error(`gen-api-docs: TypeDoc reported:\n${errors.join('\n')}`);
  return { files: listFiles(outDir), warnings };
}

/** The warnings as one message, with what to do about them ('' when there are none). */
export function describeWarnings(warnings) {
  if (!warnings.length) return '';
  return (
    `gen-api-docs: TypeDoc warnings (a public signature names a type the reference does not document:\n` +
    `export it from lib/index.ts, or tag it @internal when it is not public):\n  ${warnings.join('\n  ')}`
  );
}

/** Relative paths (with '/') of the files under `dir`, sorted; [] when it does not exist. */
export function listFiles(dir, prefix = '') {
  let names;
  try {
    names = readdirSync(path.join(dir, prefix)).sort();
  } catch {
    return [];
  }
  const out = [];
  for (const n of names) {
    const rel = prefix ? `${prefix}/${n}` : n;
    if (statSync(path.join(dir, rel)).isDirectory()) out.push(...listFiles(dir, rel));
    else out.push(rel);
  }
  return out;
}

/**
 * Compares two generated trees: the first difference as text ('' when equal): a file only one
 * has, or the first differing line of a file both have.
 */
export function compareTrees(expectedDir, actualDir) {
  const a = listFiles(expectedDir),
    b = listFiles(actualDir);
  const onlyA = a.filter((f) => !b.includes(f)),
    onlyB = b.filter((f) => !a.includes(f));
  if (onlyA.length) return `${onlyA[0]} is committed but no longer generated`;
  if (onlyB.length) return `${onlyB[0]} is generated but not committed`;
  for (const f of a) {
    const x = readFileSync(path.join(expectedDir, f), 'utf8').replace(/\r\n/g, '\n');
    const y = readFileSync(path.join(actualDir, f), 'utf8');
    if (x === y) continue;
    const xl = x.split('\n'),
      yl = y.split('\n');
    let k = 0;
    while (k < xl.length && k < yl.length && xl[k] === yl[k]) ++k;
    return `${f} differs at line ${k + 1}:\n  committed: ${JSON.stringify(xl[k] ?? '<end of file>')}\n  generated: ${JSON.stringify(yl[k] ?? '<end of file>')}`;
  }
  return '';
}

function isMain() {
  try {
    return !!process.argv[1] && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMain()) {
  const args = process.argv.slice(2);
  const check = args.includes('--check');
  const outArg = args.indexOf('--out');
  const committed = path.join(REPO, DOCS_DIR);
  try {
    if (check) {
      const tmp = mkdtempSync(path.join(tmpdir(), 'spikelayers-docs-'));
      try {
        const { warnings } = await generate(tmp);
        if (warnings.length) {
          console.error(describeWarnings(warnings));
          process.exitCode = 1;
        }
        const diff = compareTrees(committed, tmp);
        if (diff) {
          console.error(`gen-api-docs: ${DOCS_DIR} is out of date: run \`npm run docs\`\n${diff}`);
          process.exitCode = 1;
        } else console.log(`gen-api-docs: ${DOCS_DIR} is up to date`);
      } finally {
        rmSync(tmp, { recursive: true, force: true });
      }
    } else {
      const out = outArg >= 0 ? path.resolve(args[outArg + 1]) : committed;
      const { files, warnings } = await generate(out);
      console.log(`gen-api-docs: wrote ${files.length} files to ${path.relative(process.cwd(), out) || '.'}`);
      if (warnings.length) {
        console.error(describeWarnings(warnings));
        process.exitCode = 1;
      }
    }
  } catch (e) {
    console.error(e instanceof Error ? e.message : e);
    process.exitCode = 1;
  }
}
