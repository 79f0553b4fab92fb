// What a killed run (kill -9, a crash, a lost machine) leaves behind, and its removal by the next run.
// A pid only means something inside one pid namespace on one boot of one machine: an output folder or a
// temp folder shared by two containers or two machines holds files of processes we cannot see. So every
// temporary name carries the writer's host tag (a hash of the kernel's boot id and the pid namespace) and
// its pid, and a file is removed only when its tag is ours and its pid is provably gone. Anything else
// (another machine, another container, a previous boot, names from older versions) is left alone.
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, readlinkSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { folderOf } from '../storage/local.js';

/** Temporary outputs, beside their final name. */
export const PARTIAL_MARKER = '.recmerge-partial-';
/** Work folders (concat lists, the placed AAC stream), in the system temp folder. */
export const WORK_PREFIX = 'recmerge-work-';

let tag: string | undefined;

/**
 * This process's pid namespace on this boot of this machine, as 12 hex digits. Where the kernel does not
 * tell (not Linux), a random tag: our leftovers are then never removed by another run, which is safe.
 */
export function hostTag(): string {
  tag ??= (() => {
    try {
      const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
      const pidNamespace = readlinkSync('/proc/self/ns/pid');
      if (!boot || !pidNamespace) throw new Error('unknown host');
      return createHash('sha256').update(`${boot}\n${pidNamespace}`).digest('hex').slice(0, 12);
    } catch {
      return `u${randomBytes(6).toString('hex').slice(1)}`;
    }
  })();
  return tag;
}

/** `<tag>-<pid>-`: what every temporary name of this process starts with (after its marker). */
const owner = (pid = process.pid) => `${hostTag()}-${pid}-`;

export const partialName = (finalFile: string, unique: string) =>
  path.join(path.dirname(finalFile), `${PARTIAL_MARKER}${owner()}${unique}-${path.basename(finalFile)}`);

export const workPrefix = () => path.join(os.tmpdir(), `${WORK_PREFIX}${owner()}`);

function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return true;
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/** True only for a name written by a process of this pid namespace and boot that no longer runs. */
export function isDeadLeftover(name: string, marker: string): boolean {
  if (!name.startsWith(marker)) return false;
  const match = /^([0-9a-f]{12})-(\d+)-/.exec(name.slice(marker.length));
  if (!match || match[1] !== hostTag()) return false;
  return !alive(Number(match[2]));
}

/** Removes partial outputs under `outDir` and work folders whose writing process is provably gone. */
export async function removeLeftovers(outDir: string): Promise<void> {
  const outputs = await readdir(outDir, { recursive: true, withFileTypes: true }).catch(() => []);
  for (const e of outputs) {
    if (e.isFile() && isDeadLeftover(e.name, PARTIAL_MARKER)) {
      await rm(path.join(folderOf(e), e.name), { force: true });
    }
  }
  const work = await readdir(os.tmpdir(), { withFileTypes: true }).catch(() => []);
  for (const e of work) {
    if (e.isDirectory() && isDeadLeftover(e.name, WORK_PREFIX)) {
      await rm(path.join(os.tmpdir(), e.name), { recursive: true, force: true });
    }
  }
}
