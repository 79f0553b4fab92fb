// The record beside each output (what a rerun compares): written whole under a temporary name, even when
// two runs finish the same output at once.
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PARTIAL_MARKER } from '../src/pipeline/leftovers.js';
import { recordPath, recmergeVersion, writeRecord } from '../src/pipeline/output-record.js';
import { tempDir } from './support/sync.js';

describe('writeRecord', () => {
  it('many writers of one record at once all succeed, and leave one whole record and no temporary file', async () => {
    const dir = await tempDir('record');
    const file = path.join(dir, 'out.mp4');
    await writeFile(file, Buffer.alloc(1000));
    const record = (n: number) => ({ format: 1, recmerge: recmergeVersion(), options: { n }, inputs: [] });
    const results = await Promise.allSettled(Array.from({ length: 16 }, (_, n) => writeRecord(file, [file], record(n))));
    expect(results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason))).toEqual([]);
    const written = JSON.parse(await readFile(recordPath(file), 'utf8')) as { options: { n: number }; outputs: { name: string; size: number }[] };
    expect(written.outputs).toEqual([{ name: 'out.mp4', size: 1000 }]);
    expect(written.options.n).toBeGreaterThanOrEqual(0);
    expect((await readdir(dir)).filter((f) => f.includes(PARTIAL_MARKER))).toEqual([]);
  });
});
