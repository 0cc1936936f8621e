// Types of scripts/gen-api-docs.mjs, for test/docs.test.ts (tsconfig has allowJs off).
/** The repository root. */
export declare const REPO: string;
/** Where the committed reference lives, relative to the repository ('docs/api'). */
export declare const DOCS_DIR: string;
/**
 * Writes the reference into `outDir` (emptied first); returns the files written, sorted, and
 * TypeDoc's warnings. Throws on TypeDoc errors.
 */
export declare function generate(outDir: string): Promise<{ files: string[]; warnings: string[] }>;
/** The warnings as one message with what to do about them ('' when there are none). */
export declare function describeWarnings(warnings: string[]): string;
/** Relative paths of the files under `dir`, sorted. */
export declare function listFiles(dir: string): string[];
/** The first difference between two trees as text, '' when they are equal. */
export declare function compareTrees(expectedDir: string, actualDir: string): string;
