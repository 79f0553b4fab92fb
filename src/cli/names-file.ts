// `--names-file`: a CSV of `uid,name` lines (a header line `uid,name` is allowed; fields may be quoted
// the RFC 4180 way, so names may hold commas and quotes).
import { readFile } from 'node:fs/promises';
import { UsageError } from '../core/errors.js';

/** Splits one CSV line into fields (quoted fields may contain commas and doubled quotes). */
function fields(line: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i <= line.length) {
    if (line[i] === '"') {
      let value = '';
      i++;
      while (i < line.length) {
        if (line[i] === '"' && line[i + 1] === '"') {
          value += '"';
          i += 2;
        } else if (line[i] === '"') {
          i++;
          break;
        } else value += line[i++];
      }
      out.push(value);
      const comma = line.indexOf(',', i);
      i = comma === -1 ? line.length + 1 : comma + 1;
    } else {
      const comma = line.indexOf(',', i);
      const end = comma === -1 ? line.length : comma;
      out.push(line.slice(i, end).trim());
      i = end + 1;
    }
  }
  return out;
}

export function parseNamesCsv(text: string, file = 'names file'): Record<string, string> {
  const names: Record<string, string> = {};
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  lines.forEach((line, n) => {
    if (line.trim() === '') return;
    const [uid = '', ...rest] = fields(line);
    const name = rest.join(',').trim();
    if (n === 0 && uid.toLowerCase() === 'uid') return;
    if (!/^\d+$/.test(uid.trim()) || name === '') throw new UsageError(`${file}, line ${n + 1}: expected "uid,name" with a decimal uid (got ${JSON.stringify(line)})`);
    names[uid.trim()] = name;
  });
  return names;
}

export async function readNamesFile(file: string): Promise<Record<string, string>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new UsageError(`${file}: cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  return parseNamesCsv(text, file);
}
