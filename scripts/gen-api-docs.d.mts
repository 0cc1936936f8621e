// Types of scripts/gen-api-docs.mjs, for test/docs.test.ts (tsconfig has allowJs off).

/** Options of {@link generate}. */
export interface GenerateOptions {
  /** The repository root, holding package.json and dist/lib (default: the script's parent folder). */
  root?: string;
}

/**
 * The API reference (docs/API.md) as markdown, generated from dist/lib/*.d.ts.
 * Throws when dist/lib/index.d.ts is missing (run `npm run build:ts` first) or when a public name
 * has no declaration.
 */
export declare function generate(options?: GenerateOptions): string;
