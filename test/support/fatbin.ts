// Lists the GPU code embedded in a binary: reads the ELF section .nv_fatbin and walks its fatbin
// containers (magic 0xBA55ED50) and their entries (kind 1 = PTX, 2 = SASS/ELF; the target
// architecture at byte 28 of each entry header). cuobjdump is not needed.
import { readFileSync } from 'node:fs';

export interface FatbinEntry {
  kind: 'ptx' | 'sass' | 'other';
  arch: number;
}

export function elfSection(buf: Buffer, name: string): { off: number; size: number } | null {
  if (buf.readUInt32BE(0) !== 0x7f454c46 || buf[4] !== 2) throw new Error('not a 64-bit ELF file');
  const shoff = Number(buf.readBigUInt64LE(0x28));
  const shentsize = buf.readUInt16LE(0x3a),
    shnum = buf.readUInt16LE(0x3c),
    shstrndx = buf.readUInt16LE(0x3e);
  const sec = (i: number) => {
    const o = shoff + i * shentsize;
    return {
      name: buf.readUInt32LE(o),
      off: Number(buf.readBigUInt64LE(o + 0x18)),
      size: Number(buf.readBigUInt64LE(o + 0x20)),
    };
  };
  const strtab = sec(shstrndx);
  for (let i = 0; i < shnum; ++i) {
    const s = sec(i);
    let e = strtab.off + s.name,
      n = '';
    while (buf[e]) n += String.fromCharCode(buf[e++]!);
    if (n === name) return { off: s.off, size: s.size };
  }
  return null;
}

export function fatbinEntries(file: string): FatbinEntry[] {
  const buf = readFileSync(file);
  const sec = elfSection(buf, '.nv_fatbin');
  if (!sec) return [];
  const out: FatbinEntry[] = [];
  let p = sec.off;
  const end = sec.off + sec.size;
  while (p + 16 <= end) {
    if (buf.readUInt32LE(p) !== 0xba55ed50) {
      p += 8;
      continue;
    } // containers are 8-byte aligned
    const headerSize = buf.readUInt16LE(p + 6);
    const fatSize = Number(buf.readBigUInt64LE(p + 8));
    let e = p + headerSize;
    const stop = e + fatSize;
    while (e + 32 <= stop) {
      const kind = buf.readUInt16LE(e);
      const entryHeader = buf.readUInt32LE(e + 4);
      const payload = Number(buf.readBigUInt64LE(e + 8));
      out.push({ kind: kind === 1 ? 'ptx' : kind === 2 ? 'sass' : 'other', arch: buf.readUInt32LE(e + 28) });
      e += entryHeader + payload;
    }
    p = stop;
  }
  return out;
}
