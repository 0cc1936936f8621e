/**
 * A plain-text table: columns as wide as their widest cell, two spaces apart, a dashed rule
 * under the header, text columns (`left(k)`) padded on the right and numbers on the left.
 */
export function textTable(head: string[], body: string[][], left: (column: number) => boolean): string[] {
  const width = head.map((h, k) => Math.max(h.length, ...body.map((row) => row[k]!.length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, k) => (left(k) ? c.padEnd(width[k]!) : c.padStart(width[k]!)))
      .join('  ')
      .trimEnd();
  return [line(head), line(width.map((n) => '-'.repeat(n))), ...body.map(line)];
}
