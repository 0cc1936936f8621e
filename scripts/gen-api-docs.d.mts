// Types of scripts/gen-api-docs.mjs, for test/docs.test.ts (tsconfig has allowJs off).
/** The repository root. */
export declare const REPO: string;
/** Where the committed reference lives, relative to the repository ('docs/api'). */
export declare const DOCS_DIR: string;
/** Writes the reference into `outDir` (emptied first); returns the files written, sorted. Throws on TypeDoc errors and warnings. */
export declare function generate(outDir: string): Promise<string[]>;
/** Relative paths of the files under `dir`, sorted. */
export declare function listFiles(dir: string): string[];
/** The first difference between two trees as text, '' when they are equal. */
export declare function compareTrees(expectedDir: string, actualDir: string): string;
