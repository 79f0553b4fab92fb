// The download cache, shared by every run that names the same folder (--cache DIR, or <out>/.recmerge-cache),
// and whose clean-up removes only what the run itself downloaded.
//
// Layout under the cache root:
//   <bucket>/<prefix>/<key>            the shared copy of an object, resumable and reusable by any run,
//   <bucket>/<prefix>/<key>~meta.json  its sidecar: which object (key, ETag, size) and which file (inode) it
//                                      describes. A file without a sidecar naming its key is not recmerge's:
//                                      it is never replaced, never removed.
//   .recmerge-runs/run-<host>-<pid>-<n>/  one folder per run, where the run keeps its own hard link to every
//                                      file it uses (got/: downloaded by it, had/: found in the cache) and
//                                      published.log: the shared copies it put in place, by inode.
// A run reads only its own links, so another run removing a shared copy cannot take a file from under it. At
// the end a run removes its folder and the shared copies it published that still hold its file (same inode);
// never files it found there, files of other runs, or files recmerge did not write. --keep-downloads keeps
// the shared copies of everything the run used. The folders of runs that were killed (same host tag, pid
// gone: see pipeline/leftovers.ts) are cleaned up the same way by the next run that ends in this cache, after it
// has linked what it needed: a rerun after a crash downloads nothing again.
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { appendFile, copyFile, link, lstat, mkdir, readdir, readFile, rename, rm, rmdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { hostTag, isDeadLeftover } from '../pipeline/leftovers.js';

export const RUNS_FOLDER = '.recmerge-runs';
const RUN_MARKER = 'run-';
const PUBLISHED_LOG = 'published.log';

/** What a sidecar says: this object, in this file. */
export interface CachedObject {
  /** The full S3 key. */
  key: string;
  etag: string | undefined;
  size: number;
}

interface Sidecar extends CachedObject {
  /** Inode of the file it describes (as a decimal string: inodes may pass 2^53). */
  ino?: string;
}

const unique = () => randomBytes(6).toString('hex');
const sidecarPath = (file: string) => `${file}~meta.json`;
const code = (error: unknown) => (error as NodeJS.ErrnoException | undefined)?.code;
/** Where hard links cannot be made (another file system, FAT, some network shares): copy instead. */
const NO_LINKS = new Set(['EXDEV', 'EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'EMLINK', 'ENOSYS']);

async function inodeOf(file: string): Promise<string | null> {
  try {
    const info = await lstat(file, { bigint: true });
    return info.isFile() ? String(info.ino) : null;
  } catch {
    return null;
  }
}

async function readSidecar(file: string): Promise<Sidecar | null> {
  try {
    const value = JSON.parse(await readFile(sidecarPath(file), 'utf8')) as Sidecar;
    return value && typeof value === 'object' && typeof value.key === 'string' ? value : null;
  } catch {
    return null;
  }
}

/** A hard link, or a copy where the file system has none. */
async function linkOrCopy(from: string, to: string): Promise<'link' | 'copy'> {
  try {
    await link(from, to);
    return 'link';
  } catch (error) {
    if (!NO_LINKS.has(code(error) ?? '')) throw error;
    await copyFile(from, to, constants.COPYFILE_EXCL);
    return 'copy';
  }
}

export class DownloadCache {
  readonly runDir: string;
  private runReady: Promise<void> | undefined;
  /** Private file -> its shared path and object (to publish it again with --keep-downloads). */
  private readonly used = new Map<string, { shared: string; object: CachedObject }>();
  /** Shared path -> inode of the file this run put there. */
  private readonly published = new Map<string, string>();
  /** Folders of the shared tree this run created. */
  private readonly created = new Set<string>();

  constructor(
    /** The cache folder. */
    readonly root: string,
    /** True for the default `<out>/.recmerge-cache`, which is removed when nothing is left in it. */
    private readonly ownsRoot: boolean,
    private readonly keep: boolean,
  ) {
    this.runDir = path.join(root, RUNS_FOLDER, `${RUN_MARKER}${hostTag()}-${process.pid}-${unique()}`);
  }

  private ensureRun(): Promise<void> {
    this.runReady ??= (async () => {
      await mkdir(this.runDir, { recursive: true });
      await writeFile(path.join(this.runDir, 'run.json'), `${JSON.stringify({ keep: this.keep, pid: process.pid, started: new Date().toISOString() })}\n`);
    })();
    return this.runReady;
  }

  private privatePath(kind: 'got' | 'had', shared: string): string {
    return path.join(this.runDir, kind, path.relative(this.root, shared));
  }

  /** mkdir -p that remembers which folders of the shared tree it made. */
  private async makeFolder(dir: string): Promise<void> {
    const first = await mkdir(dir, { recursive: true });
    if (first === undefined) return;
    for (let d = dir; d.length >= first.length; d = path.dirname(d)) this.created.add(d);
  }

  /** Whether the shared copy is this very object, whole (its sidecar names it and this file). */
  private async whole(shared: string, object: CachedObject): Promise<Sidecar | null> {
    const sidecar = await readSidecar(shared);
    if (!sidecar || sidecar.key !== object.key || sidecar.size !== object.size) return null;
    if (object.etag !== undefined && sidecar.etag !== object.etag) return null;
    const info = await lstat(shared, { bigint: true }).catch(() => null);
    if (!info?.isFile() || Number(info.size) !== object.size || String(info.ino) !== sidecar.ino) return null;
    return sidecar;
  }

  /** The cached object as a file of this run's own, or null when the cache does not hold it whole. */
  async reuse(shared: string, object: CachedObject): Promise<string | null> {
    const sidecar = await this.whole(shared, object);
    if (!sidecar) return null;
    await this.ensureRun();
    const mine = this.privatePath('had', shared);
    await mkdir(path.dirname(mine), { recursive: true });
    await rm(mine, { force: true });
    let how: 'link' | 'copy';
    try {
      how = await linkOrCopy(shared, mine);
    } catch (error) {
      if (code(error) === 'ENOENT') return null; // removed by its run meanwhile: download it
      throw error;
    }
    // Another run may have replaced the shared copy between the check and the link: what we hold must be
    // the very file the sidecar described (a copy: the shared copy must still be it after copying).
    const info = await lstat(mine, { bigint: true });
    const same = how === 'link' ? String(info.ino) === sidecar.ino : (await inodeOf(shared)) === sidecar.ino;
    if (!same || Number(info.size) !== object.size) {
      await rm(mine, { force: true });
      return null;
    }
    this.used.set(mine, { shared, object });
    return mine;
  }

  /** A new temporary name in this run's folder for downloading the object of `shared`. */
  async tempFor(shared: string): Promise<string> {
    await this.ensureRun();
    const mine = this.privatePath('got', shared);
    await mkdir(path.dirname(mine), { recursive: true });
    return `${mine}~${unique()}.part`;
  }

  /** A finished download (at a name from tempFor) becomes this run's file, and the shared copy if it can. */
  async adopt(temp: string, shared: string, object: CachedObject): Promise<string> {
    const mine = this.privatePath('got', shared);
    await rename(temp, mine);
    this.used.set(mine, { shared, object });
    await this.publish(mine, shared, object).catch(() => undefined); // the shared copy is a convenience
    return mine;
  }

  /**
   * Puts a file of this run at the shared path: never over a file recmerge did not write there (one its
   * sidecar does not describe). Temporary names are in the run's folder, so a killed run leaves none in the
   * shared tree; the published.log line comes first, so a killed run's copy is found by the next run.
   */
  private async publish(mine: string, shared: string, object: CachedObject): Promise<void> {
    const there = await inodeOf(shared);
    if (there !== null && (await readSidecar(shared))?.ino !== there) return;
    if (there === null && (await lstat(shared).catch(() => null))) return; // a folder, a link: not ours
    await this.makeFolder(path.dirname(shared));
    const temp = path.join(this.runDir, `publish-${unique()}`);
    const sidecarTemp = `${temp}~meta.json`;
    try {
      await linkOrCopy(mine, temp);
      const ino = (await inodeOf(temp))!;
      await writeFile(sidecarTemp, JSON.stringify({ ...object, ino } satisfies Sidecar));
      await appendFile(path.join(this.runDir, PUBLISHED_LOG), `${ino}\t${path.relative(this.root, shared)}\n`);
      await rename(temp, shared);
      this.published.set(shared, ino);
      await rename(sidecarTemp, sidecarPath(shared));
    } finally {
      await rm(temp, { force: true });
      await rm(sidecarTemp, { force: true });
    }
  }

  /** Removes the shared copy (and its sidecar) only while it still holds the file with this inode. */
  private async unpublish(shared: string, ino: string): Promise<void> {
    if ((await inodeOf(shared)) !== ino) return; // replaced by another run since: theirs now
    await rm(shared, { force: true });
    if ((await readSidecar(shared))?.ino === ino) await rm(sidecarPath(shared), { force: true });
  }

  /** Cleans up killed runs of this machine whose folders are in this cache (not their kept files). */
  private async sweepDeadRuns(): Promise<void> {
    const runs = path.join(this.root, RUNS_FOLDER);
    for (const name of await readdir(runs).catch(() => [] as string[])) {
      if (!isDeadLeftover(name, RUN_MARKER)) continue;
      const dir = path.join(runs, name);
      const info = JSON.parse(await readFile(path.join(dir, 'run.json'), 'utf8').catch(() => '{}')) as { keep?: boolean };
      if (!info.keep) {
        const log = await readFile(path.join(dir, PUBLISHED_LOG), 'utf8').catch(() => '');
        for (const line of log.split('\n')) {
          const [ino, relative] = line.split('\t');
          if (!ino || !relative) continue;
          const shared = path.resolve(this.root, relative);
          if (!shared.startsWith(this.root + path.sep)) continue;
          await this.unpublish(shared, ino);
          // Its folders, once empty, up to the cache root.
          for (let d = path.dirname(shared); d.startsWith(this.root + path.sep); d = path.dirname(d)) {
            if (!(await rmdir(d).then(() => true, () => false))) break;
          }
        }
      }
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** The end of the run: see the top of this file. */
  async dispose(): Promise<void> {
    await this.sweepDeadRuns();
    if (this.keep) {
      for (const [mine, { shared, object }] of this.used) {
        if (!(await this.whole(shared, object))) await this.publish(mine, shared, object).catch(() => undefined);
      }
    } else {
      for (const [shared, ino] of this.published) await this.unpublish(shared, ino);
      // Folders this run made, deepest first, if nothing else is in them.
      for (const dir of [...this.created].sort((a, b) => b.length - a.length)) await rmdir(dir).catch(() => undefined);
    }
    this.used.clear();
    this.published.clear();
    await rm(this.runDir, { recursive: true, force: true });
    await rmdir(path.dirname(this.runDir)).catch(() => undefined);
    if (this.ownsRoot) await rmdir(this.root).catch(() => undefined);
  }
}
