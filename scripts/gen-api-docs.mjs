// Generates docs/API.md, the API reference, from the declaration files tsc emits (dist/lib/*.d.ts).
//
//   npm run build:ts && node scripts/gen-api-docs.mjs           writes docs/API.md
//   node scripts/gen-api-docs.mjs --check                       exits 1 when docs/API.md is stale
//
// Only the public API is documented: the names dist/lib/index.d.ts re-exports, grouped by the
// module they come from (in the order of GROUPS below) and, within a module, in the order of the
// index's export lists. For each export: its TSDoc comment, its declaration in a ```ts block and,
// for classes and interfaces, its members (skipped: private members, names starting with '_' or
// '#', and members whose doc comment has @internal). Types that the public signatures use but the
// package does not export by name (e.g. the native addon's info objects in binding.d.ts) are listed
// at the end under "Supporting types".
//
// The .d.ts output of tsc is regular, so this is a small scanner (comments, strings, bracket depth)
// rather than a TypeScript parser: the TypeScript 7 compiler has no JavaScript API.
// `generate()` is pure (reads files, returns the markdown); test/docs.test.ts compares it with the
// committed docs/API.md so that the reference cannot silently drift from the code.
import { existsSync, mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Module (file name in dist/lib without .d.ts) -> section title, in the order of the reference. */
const GROUPS = [
  ['tensor', 'Tensor'],
  ['layer', 'LIF'],
  ['siblings', 'Sibling layers: IAF, ExpLeak and the squeeze variants'],
  ['activations', 'Activations: spike functions, resets and surrogate gradients'],
  ['stream', 'Streams'],
  ['safetensors', 'Model files (safetensors)'],
  ['module', 'Module (the base of the network layers)'],
  ['pooling', 'Pooling layers'],
  ['readout', 'Readouts over time'],
  ['losses', 'Losses'],
  ['base', 'Optimizers'],
  ['sgd', 'Optimizers: SGD'],
  ['adam', 'Optimizers: Adam and AdamW'],
  ['clip', 'Gradient clipping'],
  ['optim', 'Optimizers'],
  ['backend', 'Backend'],
  ['errors', 'Errors'],
];
const SUPPORTING_TITLE = 'Supporting types';
/** Signatures longer than this (on one line) get one parameter per line. */
const WRAP_AT = 100;
/** Object literal types (`{ a: T; b: U }`) up to this length are written on one line. */
const COLLAPSE_AT = 50;

// ---- scanning ---------------------------------------------------------------------------------

/**
 * Splits declaration text into statements (top level) or members (a class or interface body).
 * A statement ends at a ';' outside brackets, or, for class/interface/enum/namespace/module
 * declarations, at the '}' that closes their body. Comments before a statement are returned with
 * it (`comments`); comments inside it stay in `code`. `indent` is the column where it starts.
 */
function splitStatements(text) {
  const out = [];
  let i = 0;
  const n = text.length;
  let comments = [];
  while (i < n) {
    const c = text[i];
    if (/\s/.test(c)) { ++i; continue; }
    if (text.startsWith('//', i)) {
      const e = text.indexOf('\n', i);
      i = e < 0 ? n : e + 1;
      continue;
    }
    if (text.startsWith('/*', i)) {
      const e = text.indexOf('*/', i + 2);
      if (e < 0) throw new Error('unterminated comment');
      comments.push(text.slice(i, e + 2));
      i = e + 2;
      continue;
    }
    // a statement starts here
    const lineStart = text.lastIndexOf('\n', i - 1) + 1;
    const indent = i - lineStart;
    const start = i;
    const isBlock = /^(?:export\s+)?(?:declare\s+)?(?:default\s+)?(?:abstract\s+)?(?:class|interface|enum|namespace|module|global)\b/.test(text.slice(i, i + 80));
    let depth = 0;
    let angle = 0; // type parameters of a block declaration's head, e.g. class X<T extends { a: 1 }>
    let bodyOpen = false;
    let end = -1;
    while (i < n) {
      const ch = text[i];
      if (text.startsWith('//', i)) { const e = text.indexOf('\n', i); i = e < 0 ? n : e; continue; }
      if (text.startsWith('/*', i)) { const e = text.indexOf('*/', i + 2); i = e < 0 ? n : e + 2; continue; }
      if (ch === '"' || ch === "'" || ch === '`') { i = skipString(text, i); continue; }
      if (isBlock && !bodyOpen && depth === 0) {
        if (ch === '<') ++angle;
        else if (ch === '>' && text[i - 1] !== '=') --angle;
        else if (ch === '{' && angle === 0) bodyOpen = true;
      }
      if (ch === '(' || ch === '[' || ch === '{') ++depth;
      else if (ch === ')' || ch === ']' || ch === '}') {
        --depth;
        if (depth === 0 && ch === '}' && isBlock && bodyOpen) { end = i + 1; break; }
      } else if (ch === ';' && depth === 0 && (!isBlock || !bodyOpen)) { end = i + 1; break; }
      ++i;
    }
    if (end < 0) end = n;
    out.push({ comments, code: text.slice(start, end).trim(), indent });
    comments = [];
    i = end;
  }
  return out;
}

function skipString(text, i) {
  const q = text[i];
  for (let j = i + 1; j < text.length; ++j) {
    if (text[j] === '\\') { ++j; continue; }
    if (text[j] === q) return j + 1;
  }
  return text.length;
}

/** Index of the bracket that closes the one at `open` (strings and comments skipped). */
function matchBracket(text, open) {
  let depth = 0;
  for (let i = open; i < text.length; ++i) {
    const ch = text[i];
    if (text.startsWith('//', i)) { const e = text.indexOf('\n', i); i = e < 0 ? text.length : e; continue; }
    if (text.startsWith('/*', i)) { const e = text.indexOf('*/', i + 2); i = e < 0 ? text.length : e + 1; continue; }
    if (ch === '"' || ch === "'" || ch === '`') { i = skipString(text, i) - 1; continue; }
    if (ch === '(' || ch === '[' || ch === '{') ++depth;
    else if (ch === ')' || ch === ']' || ch === '}') { if (--depth === 0) return i; }
  }
  return -1;
}

/** The first index of `ch` outside brackets, strings, comments and type arguments, or -1. */
function findTopLevel(text, ch, from = 0) {
  let depth = 0;
  for (let i = from; i < text.length; ++i) {
    const c = text[i];
    if (text.startsWith('/*', i)) { const e = text.indexOf('*/', i + 2); i = e < 0 ? text.length : e + 1; continue; }
    if (c === '"' || c === "'" || c === '`') { i = skipString(text, i) - 1; continue; }
    if (depth === 0 && c === ch) return i;
    if ('([{<'.includes(c)) ++depth;
    else if (')]}'.includes(c) || (c === '>' && text[i - 1] !== '=')) --depth;
  }
  return -1;
}

/** Splits at top-level commas (outside brackets and type arguments). */
function splitTopLevel(text, sep = ',') {
  const parts = [];
  let depth = 0, last = 0;
  for (let i = 0; i < text.length; ++i) {
    const c = text[i];
    if (c === '"' || c === "'" || c === '`') { i = skipString(text, i) - 1; continue; }
    if ('([{<'.includes(c)) ++depth;
    else if (')]}'.includes(c) || (c === '>' && text[i - 1] !== '=')) --depth;
    else if (c === sep && depth === 0) { parts.push(text.slice(last, i)); last = i + 1; }
  }
  parts.push(text.slice(last));
  return parts.map((p) => p.trim()).filter((p) => p !== '');
}

/** Removes comments and the contents of string literals (for scanning identifiers). */
function stripCommentsAndStrings(text) {
  let out = '';
  for (let i = 0; i < text.length; ++i) {
    const c = text[i];
    if (text.startsWith('//', i)) { const e = text.indexOf('\n', i); i = (e < 0 ? text.length : e) - 1; continue; }
    if (text.startsWith('/*', i)) { const e = text.indexOf('*/', i + 2); i = e < 0 ? text.length : e + 1; out += ' '; continue; }
    if (c === '"' || c === "'" || c === '`') { const e = skipString(text, i); out += `${c}${c}`; i = e - 1; continue; }
    out += c;
  }
  return out;
}

/** Removes up to `indent` leading spaces from every line but the first. */
function dedent(code, indent) {
  if (!indent) return code;
  const re = new RegExp(`^ {0,${indent}}`);
  return code.split('\n').map((l, k) => (k === 0 ? l : l.replace(re, ''))).join('\n');
}

// ---- doc comments -----------------------------------------------------------------------------

/** The text of a /** comment, with its tags: { text, tags: [{ tag, body }] }. */
function parseDoc(comment) {
  if (!comment) return null;
  let body = comment.slice(3, -2);
  let lines = body.split('\n').map((l, k) => {
    if (k === 0) return l.replace(/^\s?/, '');
    const m = /^\s*\*(?!\/) ?(.*)$/.exec(l);
    return m ? m[1] : l.trim();
  });
  lines = lines.map((l) => l.replace(/\s+$/, ''));
  while (lines.length && lines[0].trim() === '') lines.shift();
  while (lines.length && lines.at(-1).trim() === '') lines.pop();
  const text = [];
  const tags = [];
  for (const l of lines) {
    const m = /^\s*@(\w+)\s*(.*)$/.exec(l);
    if (m) tags.push({ tag: m[1], body: [m[2]] });
    else if (tags.length) tags.at(-1).body.push(l);
    else text.push(l);
  }
  while (text.length && text.at(-1).trim() === '') text.pop();
  for (const t of tags) {
    while (t.body.length && t.body.at(-1).trim() === '') t.body.pop();
  }
  return { text: text.join('\n'), tags };
}

function lastDocComment(comments) {
  for (let k = comments.length - 1; k >= 0; --k) if (comments[k].startsWith('/**')) return comments[k];
  return null;
}

const isInternal = (doc) => !!doc && doc.tags.some((t) => t.tag === 'internal');

// ---- declaration files ------------------------------------------------------------------------

const DECL_RE = /^(?:export\s+)?(?:declare\s+)?(?:default\s+)?(abstract\s+)?(class|interface|type|function|const|let|var|enum|namespace)\s+([A-Za-z_$][\w$]*)/;

/**
 * Parses one .d.ts file: its declarations (exported or not) by name, its imports, its export lists,
 * and the module doc comment (a comment that precedes the imports or the first declaration
 * without being that declaration's doc).
 */
function parseFile(file) {
  const text = readFileSync(file, 'utf8');
  const stmts = splitStatements(text);
  const decls = new Map(); // name -> [decl] (overloads)
  const imports = new Map(); // local name -> { from, name }
  const reexports = []; // { names: [{ name, local }], from } | { star: true, from }
  let moduleDoc = null;
  let firstDecl = null; // the first statement, when it is a documented declaration
  let first = true;
  for (const s of stmts) {
    const doc = lastDocComment(s.comments);
    const code = s.code;
    if (/^import\s/.test(code)) {
      if (first && doc) moduleDoc = doc;
      parseImport(code, imports);
    } else if (/^export\s+(?:type\s+)?\{/.test(code) || /^export\s+\*/.test(code)) {
      if (first && doc) moduleDoc = doc;
      const from = /\bfrom\s+['"]([^'"]+)['"]/.exec(code)?.[1] ?? null;
      if (/^export\s+\*/.test(code)) {
        if (/^export\s+\*\s+as\s/.test(code)) throw new Error(`${file}: 'export * as' is not supported: ${code}`);
        reexports.push({ star: true, from });
      } else {
        const list = code.slice(code.indexOf('{') + 1, code.lastIndexOf('}'));
        const names = splitTopLevel(list).map((p) => {
          const m = /^(?:type\s+)?([\w$]+)(?:\s+as\s+([\w$]+))?$/.exec(p);
          if (!m) throw new Error(`${file}: cannot read export '${p}'`);
          return { local: m[1], name: m[2] ?? m[1] };
        });
        reexports.push({ names, from });
      }
    } else {
      const m = DECL_RE.exec(code);
      if (m) {
        const d = { kind: m[2], abstract: !!m[1], name: m[3], code, indent: s.indent, doc: parseDoc(doc), file };
        if (!decls.has(d.name)) decls.set(d.name, []);
        decls.get(d.name).push(d);
        if (first && d.doc) firstDecl = d;
        // a leading comment that is the file's overview rather than this declaration's doc:
        // two comments in a row, the first one is the module's
        if (first && s.comments.filter((c) => c.startsWith('/**')).length > 1) moduleDoc = s.comments.find((c) => c.startsWith('/**'));
      }
    }
    first = false;
  }
  return { file, decls, imports, reexports, moduleDoc: parseDoc(moduleDoc), firstDecl };
}

function parseImport(code, imports) {
  const from = /\bfrom\s+['"]([^'"]+)['"]/.exec(code)?.[1];
  if (!from) return; // side-effect import
  const clause = code.replace(/^import\s+(?:type\s+)?/, '').replace(/\s*\bfrom\s+['"][^'"]+['"]\s*;?$/, '');
  const brace = clause.indexOf('{');
  if (brace >= 0) {
    for (const p of splitTopLevel(clause.slice(brace + 1, clause.lastIndexOf('}')))) {
      const m = /^(?:type\s+)?([\w$]+)(?:\s+as\s+([\w$]+))?$/.exec(p);
      if (m) imports.set(m[2] ?? m[1], { from, name: m[1] });
    }
  }
  const def = /^([\w$]+)\s*(?:,|$)/.exec(clause);
  if (def) imports.set(def[1], { from, name: 'default' });
  const ns = /\*\s+as\s+([\w$]+)/.exec(clause);
  if (ns) imports.set(ns[1], { from, name: '*' });
}

/** Loads and caches .d.ts files; resolves relative specifiers and package.json "imports". */
class Program {
  constructor(root) {
    this.root = root;
    this.files = new Map();
    const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
    this.pkgImports = pkg.imports ?? {};
  }

  load(file) {
    if (!this.files.has(file)) this.files.set(file, parseFile(file));
    return this.files.get(file);
  }

  /** The .d.ts file a specifier names, or null for packages outside the repository (node:fs, ...). */
  resolve(spec, fromFile) {
    let target = null;
    if (spec.startsWith('.')) target = path.resolve(path.dirname(fromFile), spec);
    else if (spec.startsWith('#')) {
      const e = this.pkgImports[spec];
      const t = typeof e === 'string' ? e : e?.types ?? e?.default;
      if (t) target = path.resolve(this.root, t);
    }
    if (target === null) return null;
    const candidates = [target.replace(/\.(m|c)?js$/, '.d.$1ts'), target, `${target}.d.ts`];
    for (const c of candidates) if (c.endsWith('.d.ts') || c.endsWith('.d.mts') || c.endsWith('.d.cts')) if (existsSync(c)) return c;
    return null;
  }

  /** The declarations a name stands for in the scope of `file` (local, or followed through imports). */
  lookup(file, name, seen = new Set()) {
    const key = `${file}\0${name}`;
    if (seen.has(key)) return null;
    seen.add(key);
    const f = this.load(file);
    if (f.decls.has(name)) return { file, name, decls: f.decls.get(name) };
    const imp = f.imports.get(name);
    if (imp && imp.name !== '*' && imp.name !== 'default') {
      const target = this.resolve(imp.from, file);
      if (target) return this.lookup(target, imp.name, seen);
    }
    // re-exported from elsewhere
    for (const r of f.reexports) {
      if (!r.from) continue;
      const target = this.resolve(r.from, file);
      if (!target) continue;
      if (r.star) { const hit = this.lookup(target, name, seen); if (hit) return hit; }
      else for (const n of r.names) if (n.name === name) return this.lookup(target, n.local, seen);
    }
    return null;
  }
}

// ---- members ------------------------------------------------------------------------------------

const MODIFIER_RE = /^(public|private|protected|static|readonly|abstract|declare|override|accessor|get|set)\s+(?=[#\w$\["'])/;

/** Parses the members of a class or interface body. */
function parseMembers(body) {
  const members = [];
  for (const s of splitStatements(body)) {
    const docComment = lastDocComment(s.comments);
    const doc = parseDoc(docComment);
    let code = dedent(s.code, s.indent);
    let rest = code;
    const mods = [];
    for (;;) {
      const m = MODIFIER_RE.exec(rest);
      if (!m) break;
      mods.push(m[1]);
      rest = rest.slice(m[0].length);
    }
    let name, form;
    const nm = /^(#?[A-Za-z_$][\w$]*|\[[^\]]*\]|'[^']*'|"[^"]*")\??/.exec(rest);
    if (/^new\s*[(<]/.test(rest)) { name = 'new'; form = 'construct'; }
    else if (/^[(<]/.test(rest)) { name = '(call)'; form = 'call'; }
    else if (nm) {
      name = nm[1];
      const after = rest.slice(nm[0].length).trimStart();
      form = name === 'constructor' ? 'constructor' : after.startsWith('(') || after.startsWith('<') ? 'method' : 'property';
      if (name.startsWith('[') && after.startsWith(':') && /^\[\s*[\w$]+\s*:/.test(name)) form = 'index';
    } else { name = rest; form = 'property'; }
    if (mods.includes('get') || mods.includes('set')) form = 'accessor';
    members.push({ name, form, mods, code: code.replace(/;\s*$/, ''), doc });
  }
  return members;
}

function isPublicMember(m) {
  if (m.mods.includes('private')) return false;
  if (m.name.startsWith('_') || m.name.startsWith('#')) return false;
  if (isInternal(m.doc)) return false;
  return true;
}

/** Splits `class X extends Y implements Z {` into head and body. */
function headAndBody(code) {
  // the body's '{' is the first one outside type arguments and parentheses
  const open = findTopLevel(code, '{');
  if (open < 0) return { head: code.replace(/;\s*$/, ''), body: '' };
  const close = matchBracket(code, open);
  return { head: code.slice(0, open).trim(), body: code.slice(open + 1, close) };
}

// ---- signature formatting ---------------------------------------------------------------------

/** `{\n a: T;\n b: U;\n}` -> `{ a: T; b: U }` when short and without comments or nested braces. */
function collapseObjects(sig) {
  let out = sig;
  for (let guard = 0; guard < 100; ++guard) {
    let changed = false;
    const re = /\{([^{}]*)\}/g;
    let m;
    while ((m = re.exec(out))) {
      const inner = m[1];
      if (!inner.includes('\n') || inner.includes('/*') || inner.includes('//')) continue;
      const parts = inner.split('\n').map((l) => l.trim()).filter(Boolean);
      const one = `{ ${parts.join(' ').replace(/;$/, '')} }`;
      if (one.length <= COLLAPSE_AT) {
        out = out.slice(0, m.index) + one + out.slice(m.index + m[0].length);
        changed = true;
        break;
      }
    }
    if (!changed) break;
  }
  return out;
}

/** One parameter per line for a long one-line signature. */
function wrapSignature(sig) {
  if (sig.includes('\n') || sig.length <= WRAP_AT) return sig;
  const open = findOpenParen(sig);
  if (open < 0) return sig;
  const close = matchBracket(sig, open);
  if (close < 0) return sig;
  const params = splitTopLevel(sig.slice(open + 1, close));
  if (params.length < 2) return sig;
  return `${sig.slice(0, open + 1)}\n${params.map((p) => `    ${p}`).join(',\n')}\n${sig.slice(close)}`;
}

/** The '(' of the parameter list (after the name and any type parameters). */
function findOpenParen(sig) {
  let angle = 0;
  for (let i = 0; i < sig.length; ++i) {
    const c = sig[i];
    if (c === '<') ++angle;
    else if (c === '>' && sig[i - 1] !== '=') --angle;
    else if (c === '(' && angle === 0) return i;
    else if ((c === ':' || c === '=') && angle === 0) return -1; // a property, not a call
  }
  return -1;
}

const formatSig = (sig) => wrapSignature(collapseObjects(sig));

// ---- markdown ---------------------------------------------------------------------------------

function slugger() {
  const used = new Map();
  return (heading) => {
    const base = heading.toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').trim().replace(/\s/g, '-');
    const n = used.get(base) ?? 0;
    used.set(base, n + 1);
    return n === 0 ? base : `${base}-${n}`;
  };
}

/** Escapes what markdown would misread in prose (outside code spans): HTML-like '<' and intraword '*'. */
function escapeProse(line) {
  return line
    .split(/(`[^`]*`)/)
    .map((part, k) => (k % 2 === 1 ? part : part.replace(/<(?=[A-Za-z\/!?])/g, '\\<').replace(/(?<=\S)\*(?=\S)/g, '\\*')))
    .join('');
}

class Renderer {
  constructor(anchors) {
    this.anchors = anchors; // name -> anchor of its section
  }

  /** {@link X}, {@link X.y}, {@link X | text} -> markdown links (code spans where X is unknown). */
  links(text) {
    return text.replace(/\{@link(?:code|plain)?\s+([^}|\s]+)(?:\s*\|\s*([^}]*))?\}/g, (_, target, label) => {
      const base = target.split(/[.#]/)[0];
      const shown = label?.trim() || target;
      const anchor = this.anchors.get(base);
      return anchor ? `[\`${shown}\`](#${anchor})` : `\`${shown}\``;
    });
  }

  /** Doc text -> markdown: indented paragraphs become code blocks, prose is escaped. */
  prose(text) {
    if (!text || !text.trim()) return '';
    const paras = text.split(/\n\s*\n/);
    const out = [];
    for (const p of paras) {
      const lines = p.split('\n');
      const indented = lines.every((l) => /^ {2,}\S/.test(l) || l.trim() === '');
      if (indented && !lines.some((l) => /^\s*[-*+] /.test(l))) {
        const cut = Math.min(...lines.filter((l) => l.trim()).map((l) => /^ */.exec(l)[0].length));
        const body = lines.map((l) => l.slice(cut)).join('\n');
        const lang = /\b(import|const|let|await|for|new|function)\b|;\s*(\/\/.*)?$/m.test(body) ? 'ts' : 'text';
        out.push(`\`\`\`${lang}\n${body}\n\`\`\``);
      } else {
        out.push(lines.map((l) => escapeProse(this.links(l.replace(/^ {2,}(?![-*+] )/, '  ')))).join('\n'));
      }
    }
    return out.join('\n\n');
  }

  /** The doc text and its tags (@param, @returns, @throws, ...), as markdown. */
  doc(doc) {
    if (!doc) return '';
    const parts = [];
    const text = this.prose(doc.text);
    if (text) parts.push(text);
    const params = [], throws = [], other = [];
    let returns = null;
    for (const t of doc.tags) {
      const body = t.body.map((l) => l.trim()).join(' ').trim();
      switch (t.tag) {
        case 'internal':
          break;
        case 'param': {
          const m = /^([\w$.[\]]+)\s*(?:-\s*)?([\s\S]*)$/.exec(body);
          if (m) params.push(`- \`${m[1]}\`: ${escapeProse(this.links(m[2]))}`);
          break;
        }
        case 'returns':
        case 'return':
          returns = escapeProse(this.links(body));
          break;
        case 'throws':
          throws.push(`- ${escapeProse(this.links(body))}`);
          break;
        case 'example':
          other.push(`**Example**\n\n${/```/.test(t.body.join('\n')) ? t.body.join('\n').trim() : `\`\`\`ts\n${t.body.join('\n').trim()}\n\`\`\``}`);
          break;
        case 'deprecated':
          other.push(`**Deprecated.** ${escapeProse(this.links(body))}`);
          break;
        case 'defaultValue':
        case 'default':
          other.push(`**Default:** ${escapeProse(this.links(body))}`);
          break;
        case 'see':
          other.push(`**See:** ${escapeProse(this.links(body))}`);
          break;
        case 'remarks':
          other.push(this.prose(t.body.join('\n')));
          break;
        default:
          other.push(`**@${t.tag}** ${escapeProse(this.links(body))}`.trim());
      }
    }
    if (params.length) parts.push(`**Parameters**\n\n${params.join('\n')}`);
    if (returns) parts.push(`**Returns:** ${returns}`);
    if (throws.length) parts.push(`**Throws**\n\n${throws.join('\n')}`);
    parts.push(...other);
    return parts.join('\n\n');
  }
}

const code = (text) => `\`\`\`ts\n${text}\n\`\`\``;

// ---- the reference ----------------------------------------------------------------------------

/**
 * The API reference as markdown.
 * @param {{ root?: string }} [options] - `root`: the repository (default: this script's parent folder).
 */
export function generate(options = {}) {
  const root = options.root ?? REPO;
  const libDir = path.join(root, 'dist', 'lib');
  const indexFile = path.join(libDir, 'index.d.ts');
  if (!existsSync(indexFile)) throw new Error(`gen-api-docs: ${path.relative(root, indexFile)} not found: run \`npm run build:ts\` first`);
  const prog = new Program(root);
  const index = prog.load(indexFile);

  // 1. the public names, in the index's order, with the module that declares them
  const exports = []; // { name, module, target: { file, name, decls } }
  const publicKeys = new Map(); // `${file}\0${local name}` -> public name
  const addExport = (name, from, local) => {
    const target = prog.lookup(from, local);
    if (!target) throw new Error(`gen-api-docs: cannot find the declaration of '${name}' (${path.relative(root, from)})`);
    const module = path.basename(target.file).replace(/\.d\.[mc]?ts$/, '');
    exports.push({ name, module, target });
    publicKeys.set(`${target.file}\0${target.name}`, name);
  };
  for (const r of index.reexports) {
    const from = r.from ? prog.resolve(r.from, indexFile) : indexFile;
    if (!from) throw new Error(`gen-api-docs: cannot resolve '${r.from}' from index.d.ts`);
    if (r.star) {
      const f = prog.load(from);
      const exported = new Set();
      for (const [name, ds] of f.decls) if (ds.some((d) => /^export\s/.test(d.code))) exported.add(name);
      for (const r2 of f.reexports) if (!r2.from && r2.names) for (const nm of r2.names) exported.add(nm.name);
      for (const name of exported) addExport(name, from, name);
    } else for (const { name, local } of r.names) addExport(name, from, local);
  }
  for (const [name, ds] of index.decls) if (ds.some((d) => /^export\s/.test(d.code))) addExport(name, indexFile, name);

  // 2. group them
  const order = new Map(GROUPS.map(([m], k) => [m, k]));
  const groups = [];
  for (const e of exports) {
    let g = groups.find((x) => x.module === e.module);
    if (!g) {
      const title = GROUPS.find(([m]) => m === e.module)?.[1] ?? e.module;
      g = { module: e.module, title, file: e.target.file, items: [] };
      groups.push(g);
    }
    g.items.push(e);
  }
  groups.sort((a, b) => (order.get(a.module) ?? 1e9) - (order.get(b.module) ?? 1e9));

  // 3. sections: build them (collecting referenced non-public types), then anchor and render
  const slug = slugger();
  const supporting = new Map(); // `${file}\0${name}` -> { name, target }
  const queue = [];
  const noteRefs = (text, file) => {
    const src = stripCommentsAndStrings(text);
    const re = /(?<![\w$.#])([A-Za-z_$][\w$]*)(?!\s*\??\s*[:(])/g;
    let m;
    while ((m = re.exec(src))) {
      const id = m[1];
      const isTypeof = /typeof\s+$/.test(src.slice(Math.max(0, m.index - 8), m.index));
      const hit = prog.lookup(file, id);
      if (!hit) continue;
      const kinds = hit.decls.map((d) => d.kind);
      if (!isTypeof && !kinds.some((k) => ['class', 'interface', 'type', 'enum'].includes(k))) continue;
      const key = `${hit.file}\0${hit.name}`;
      if (publicKeys.has(key) || supporting.has(key)) continue;
      if (/_base$/.test(hit.name) && kinds.includes('const')) continue; // tsc's mixin helper, resolved below
      supporting.set(key, { name: hit.name, target: hit });
      queue.push(key);
    }
  };

  const built = [];
  for (const g of groups) {
    for (const e of g.items) built.push({ group: g, ...describeExport(e.name, e.target, prog, noteRefs) });
  }
  const supportingBuilt = [];
  while (queue.length) {
    const s = supporting.get(queue.shift());
    supportingBuilt.push(describeExport(s.name, s.target, prog, noteRefs));
  }
  supportingBuilt.sort((a, b) => a.name.localeCompare(b.name));

  // anchors in document order (the slugger numbers duplicates like GitHub does)
  const anchors = new Map();
  const headingOf = (d) => `${d.kind} ${d.name}`;
  slug('spikelayers API reference');
  slug('Contents');
  const groupAnchor = new Map();
  for (const g of groups) {
    groupAnchor.set(g, slug(g.title));
    for (const b of built.filter((x) => x.group === g)) {
      b.anchor = slug(headingOf(b));
      anchors.set(b.name, b.anchor);
      for (const m of b.memberHeadings ?? []) slug(m.heading); // taken, for GitHub's numbering of repeats
    }
  }
  let supportingAnchor = null;
  if (supportingBuilt.length) {
    supportingAnchor = slug(SUPPORTING_TITLE);
    for (const b of supportingBuilt) {
      b.anchor = slug(headingOf(b));
      if (!anchors.has(b.name)) anchors.set(b.name, b.anchor);
      for (const m of b.memberHeadings ?? []) slug(m.heading);
    }
  }
  const r = new Renderer(anchors);

  // 4. the document
  const out = [];
  out.push('# spikelayers API reference');
  out.push(
    '<!-- Generated by scripts/gen-api-docs.mjs from dist/lib/*.d.ts. Do not edit: run `npm run docs`. -->',
  );
  out.push(
    'Generated from the TypeScript declarations (`dist/lib/*.d.ts`, the names `dist/lib/index.d.ts` exports) ' +
      'by `scripts/gen-api-docs.mjs`; regenerate with `npm run docs`. Everything below is imported from ' +
      "`'spikelayers'`.",
  );
  if (index.moduleDoc) out.push(r.doc(index.moduleDoc));
  out.push('## Contents');
  const toc = [];
  for (const g of groups) {
    toc.push(`- [${g.title}](#${groupAnchor.get(g)})`);
    for (const b of built.filter((x) => x.group === g)) toc.push(`  - [${b.name}](#${b.anchor}) (${b.kind})`);
  }
  if (supportingBuilt.length) {
    toc.push(`- [${SUPPORTING_TITLE}](#${supportingAnchor})`);
    for (const b of supportingBuilt) toc.push(`  - [${b.name}](#${b.anchor}) (${b.kind})`);
  }
  out.push(toc.join('\n'));
  for (const g of groups) {
    out.push(`## ${g.title}`);
    // the module's overview; tsc attaches it to the first declaration when no import comes first,
    // so a leading doc comment on a declaration that is not public is taken as the overview
    const f = prog.load(g.file);
    const mod = f.moduleDoc ?? (f.firstDecl && !publicKeys.has(`${f.file}\0${f.firstDecl.name}`) ? f.firstDecl.doc : null);
    if (mod && !isInternal(mod)) out.push(r.doc(mod));
    for (const b of built.filter((x) => x.group === g)) out.push(b.render(r, `### ${headingOf(b)}`));
  }
  if (supportingBuilt.length) {
    out.push(`## ${SUPPORTING_TITLE}`);
    out.push(
      'Types the signatures above use that the package does not export by name (from its internal ' +
        'modules and from `binding.d.ts`, the native addon\'s contract). Values of these types are ' +
        'returned or accepted by the public API; the names themselves cannot be imported.',
    );
    for (const b of supportingBuilt) out.push(b.render(r, `### ${headingOf(b)}`));
  }
  return `${out.filter((s) => s !== '').join('\n\n')}\n`;
}

/**
 * What one export is and how to render it: { name, kind, render(renderer, heading) }.
 * `noteRefs(text, file)` is told about every signature, to find the non-public types they use.
 */
function describeExport(name, target, prog, noteRefs) {
  const decls = target.decls;
  const d0 = decls.find((d) => d.kind === 'class' || d.kind === 'interface') ?? decls[0];
  const file = d0.file;
  const doc = decls.map((d) => d.doc).find((x) => x && x.text) ?? decls.map((d) => d.doc).find(Boolean) ?? null;
  const rest = (d) => dedent(d.code, d.indent).replace(/^export\s+/, '').replace(/^declare\s+/, '').replace(/;\s*$/, '');
  const rename = (s) => (name === target.name ? s : s.replace(new RegExp(`\\b${target.name}\\b`), name));

  if (d0.kind === 'class' || d0.kind === 'interface') {
    // merge interface/class declarations of the same name (declaration merging)
    let head = '';
    const members = [];
    const extendsNames = [];
    let mixin = null;
    for (const d of decls.filter((x) => x.kind === d0.kind)) {
      const hb = headAndBody(rest(d));
      head ||= rename(hb.head);
      members.push(...parseMembers(hb.body));
    }
    // tsc writes `class X extends X_base` for `class X extends Mixin(Base)`, with
    // `declare const X_base: typeof Base & (new (...args: any[]) => Members)`: show Base and Members' members
    const ext = /\bextends\s+([\w$]+)/.exec(head);
    if (ext) {
      const base = prog.lookup(file, ext[1]);
      const c = base?.decls.find((x) => x.kind === 'const');
      if (c && /_base$/.test(ext[1])) {
        const type = c.code.slice(c.code.indexOf(':') + 1).replace(/;\s*$/, '');
        const bases = [...type.matchAll(/typeof\s+([\w$]+)/g)].map((m) => m[1]);
        const adds = [...type.matchAll(/=>\s*([\w$]+)/g)].map((m) => m[1]);
        head = head.replace(/\bextends\s+[\w$]+/, bases.length ? `extends ${bases[0]}` : '');
        mixin = [];
        for (const a of adds) {
          const hit = prog.lookup(base.file, a);
          const iface = hit?.decls.find((x) => x.kind === 'interface');
          if (iface) mixin.push(...parseMembers(headAndBody(rest(iface)).body));
        }
        members.push(...mixin);
      }
    }
    for (const m of head.matchAll(/\b(?:extends|implements)\s+([^{]+)/g)) extendsNames.push(...splitTopLevel(m[1].replace(/\bimplements\b/, ',')));
    const pub = members.filter(isPublicMember);
    noteRefs(head, file);
    for (const m of pub) noteRefs(m.code, file);

    if (d0.kind === 'interface') {
      return {
        name, kind: 'interface',
        render(r, heading) {
          const parts = [heading];
          const text = r.doc(doc);
          if (text) parts.push(text);
          const body = pub.map((m) => formatSig(m.code).split('\n').map((l) => `    ${l}`).join('\n') + ';');
          parts.push(code(pub.length ? `${head} {\n${body.join('\n')}\n}` : `${head} {}`));
          const heritage = /\bextends\s+([\s\S]*)$/.exec(head)?.[1] ?? '';
          const bases = [...new Set(heritage.match(/[A-Za-z_$][\w$]*/g) ?? [])].filter((b) => r.anchors.has(b));
          if (bases.length) parts.push(`Extends ${bases.map((b) => `[\`${b}\`](#${r.anchors.get(b)})`).join(', ')}.`);
          const listed = pub.filter((m) => m.doc && (m.doc.text || m.doc.tags.length));
          if (listed.length) {
            parts.push(listed.map((m) => {
              const label = m.form === 'method' ? `${m.name}()` : m.name;
              const text = r.doc(m.doc).split('\n').map((l, k) => (k === 0 || l === '' ? l : `  ${l}`)).join('\n');
              return `- \`${label}\`: ${text}`;
            }).join('\n'));
          }
          return parts.join('\n\n');
        },
      };
    }

    // a class: its public surface in one block, the doc, then the constructor and every documented
    // member with its signature(s) and doc
    const cls = name;
    const groupsByName = [];
    for (const m of pub) {
      const key = `${m.mods.includes('static') ? 'static ' : ''}${m.form === 'constructor' ? 'constructor' : m.name}`;
      let g = groupsByName.find((x) => x.key === key);
      if (!g) { g = { key, members: [] }; groupsByName.push(g); }
      g.members.push(m);
    }
    const documented = (g) => g.members.some((m) => m.doc && (m.doc.text || m.doc.tags.length));
    const shown = [
      ...groupsByName.filter((g) => g.key === 'constructor'),
      ...groupsByName.filter((g) => g.key !== 'constructor' && documented(g)),
    ];
    const memberHeadings = shown.map((g) => {
      const m = g.members[0];
      const heading = m.form === 'constructor' ? `new ${cls}()` : m.form === 'method' ? `${cls}.${m.name}()` : m.form === 'index' ? `${cls}${m.name}` : `${cls}.${m.name}`;
      return { heading, group: g };
    });
    return {
      name, kind: d0.abstract ? 'abstract class' : 'class', memberHeadings,
      render(r, heading) {
        const parts = [heading];
        const body = pub.map((m) => formatSig(m.code).split('\n').map((l) => `    ${l}`).join('\n') + ';');
        parts.push(code(pub.length ? `${head} {\n${body.join('\n')}\n}` : `${head} {}`));
        const text = r.doc(doc);
        if (text) parts.push(text);
        const baseClass = /\bextends\s+([\w$]+)/.exec(head)?.[1];
        const ifaces = extendsNames.filter((b) => b !== baseClass && /^[\w$]+$/.test(b) && r.anchors.has(b));
        if (baseClass && r.anchors.has(baseClass))
          parts.push(`Extends [\`${baseClass}\`](#${r.anchors.get(baseClass)}): it has every member of ${baseClass}${pub.length ? ' and the ones above' : ''}.`);
        if (ifaces.length) parts.push(`Implements ${ifaces.map((b) => `[\`${b}\`](#${r.anchors.get(b)})`).join(', ')}.`);
        for (const mh of memberHeadings) {
          parts.push(`#### ${mh.heading}`);
          const sigs = mh.group.members.map((m) => {
            let s = m.code;
            if (m.form === 'constructor') s = s.replace(/^((?:public|protected)\s+)?constructor/, `new ${cls}`);
            return formatSig(s);
          });
          parts.push(code(sigs.join('\n')));
          const docs = [...new Set(mh.group.members.map((m) => r.doc(m.doc)).filter(Boolean))];
          if (docs.length) parts.push(docs.join('\n\n'));
        }
        return parts.join('\n\n');
      },
    };
  }

  // functions (with overloads), consts, type aliases, enums, namespaces: the declarations as written
  const sigs = decls.map((d) => {
    let s = rename(rest(d));
    if (d.kind === 'function') s = formatSig(s);
    return s;
  });
  for (const s of sigs) noteRefs(s, file);
  const kind = d0.kind === 'let' || d0.kind === 'var' ? 'const' : d0.kind;
  return {
    name, kind,
    render(r, heading) {
      const parts = [heading, code(sigs.join('\n'))];
      const docs = [...new Set(decls.map((d) => r.doc(d.doc)).filter(Boolean))];
      if (docs.length) parts.push(docs.join('\n\n'));
      return parts.join('\n\n');
    },
  };
}

// ---- command line -----------------------------------------------------------------------------

function isMain() {
  if (!process.argv[1]) return false;
  try {
    return realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMain()) {
  const check = process.argv.includes('--check');
  const outFile = path.join(REPO, 'docs', 'API.md');
  let md;
  try {
    md = generate();
  } catch (e) {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  }
  const old = existsSync(outFile) ? readFileSync(outFile, 'utf8') : null;
  if (check) {
    if (old !== md) {
      console.error('gen-api-docs: docs/API.md is out of date: run `npm run docs`');
      process.exit(1);
    }
    console.log('gen-api-docs: docs/API.md is up to date');
  } else {
    mkdirSync(path.dirname(outFile), { recursive: true });
    writeFileSync(outFile, md);
    const sections = (md.match(/^### /gm) ?? []).length;
    console.log(`gen-api-docs: wrote docs/API.md (${sections} sections, ${md.length} bytes)${old === md ? ', unchanged' : ''}`);
  }
}
