// Local folder source: the downloaded-recording case. Nothing is ever written under the root.
import type { Dirent } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import pLimit from 'p-limit';
import type { FetchOptions, RecordingSource, StoredObject } from './source.js';

/** The folder a recursive readdir entry is in (`parentPath` from Node 20.12; `path` before). */
export const folderOf = (entry: Dirent) => entry.parentPath ?? (entry as Dirent & { path: string }).path;

/** File stats in flight at once when materializing. */
const STATS_AT_ONCE = 64;

export class LocalFolderSource implements RecordingSource {
  readonly root: string;
  readonly description: string;
  readonly local = true;

  constructor(root: string) {
    this.root = path.resolve(root);
    this.description = this.root;
  }

  async list(signal?: AbortSignal): Promise<StoredObject[]> {
    let info;
    try {
      info = await stat(this.root);
    } catch {
      throw new Error(`${this.root}: no such folder`);
    }
    if (!info.isDirectory()) throw new Error(`${this.root}: not a folder`);
    const entries = await readdir(this.root, { recursive: true, withFileTypes: true });
    signal?.throwIfAborted();
    const out: StoredObject[] = [];
    for (const entry of entries) {
      if (!entry.isFile()) continue;
      const abs = path.join(folderOf(entry), entry.name);
      const key = path.relative(this.root, abs).split(path.sep).join('/');
      const info = await stat(abs);
      out.push({ key, size: info.size, modifiedMs: Math.round(info.mtimeMs) });
    }
    out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return out;
  }

  private resolve(key: string): string {
    const abs = path.resolve(this.root, key);
    if (abs !== this.root && !abs.startsWith(this.root + path.sep)) {
      throw new Error(`${key}: key points outside ${this.root}`);
    }
    return abs;
  }

  async readText(key: string, signal?: AbortSignal): Promise<string> {
    return readFile(this.resolve(key), { encoding: 'utf8', signal });
  }

  async materialize(keys: string[], options: FetchOptions = {}): Promise<{ paths: Map<string, string>; missing: Map<string, string> }> {
    options.signal?.throwIfAborted();
    const paths = new Map<string, string>();
    const missing = new Map<string, string>();
    // Many at once: one at a time, 80,000 slices spent seconds waiting between stats.
    const limit = pLimit(STATS_AT_ONCE);
    const found = await Promise.all(
      keys.map((key) =>
        limit(async (): Promise<[string, string, boolean]> => {
          try {
            const abs = this.resolve(key);
            const info = await stat(abs);
            if (!info.isFile()) return [key, 'not a file', false];
            if (info.size === 0) return [key, 'empty file', false];
            return [key, abs, true];
          } catch (error) {
            return [key, error instanceof Error && 'code' in error && error.code === 'ENOENT' ? 'not found' : String(error), false];
          }
        }),
      ),
    );
    // In the order asked (callers iterate the maps).
    for (const [key, value, ok] of found) (ok ? paths : missing).set(key, value);
    return { paths, missing };
  }

  async dispose(): Promise<void> {}
}
