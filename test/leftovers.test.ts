// Leftover cleanup removes only what provably belongs to a dead process of this pid namespace on this
// boot: a second container (another pid namespace) sharing the output and temp folders keeps its files.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { access, mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { hostTag, isDeadLeftover, PARTIAL_MARKER, removeLeftovers, WORK_PREFIX } from '../src/pipeline/leftovers.js';

const WRITER = path.resolve('test/support/leftover-writer.ts');
const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
});

interface Written {
  pid: number;
  partial: string;
  work: string;
}

async function start(command: string, args: string[]): Promise<{ child: ChildProcess; written: Written }> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`writer exited with ${code}`)));
  });
  return { child, written: JSON.parse(line) as Written };
}

const exists = (p: string) => access(p).then(() => true, () => false);

const pidIsFree = (pid: number) => {
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
};

function canUnshare(): boolean {
  if (process.getuid?.() !== 0) return false;
  return spawnSync('unshare', ['--pid', '--fork', '--mount-proc', 'true']).status === 0;
}

const out = () => path.join(os.tmpdir(), `leftovers-${Math.random().toString(36).slice(2)}`);

describe('leftover cleanup', () => {
  it('removes the files of a kill -9ed process of this namespace, keeps live and foreign ones', async () => {
    const dir = out();
    await mkdir(dir, { recursive: true });
    const { child, written } = await start(process.execPath, ['--import', 'tsx', WRITER, dir]);
    const older = path.join(dir, `${PARTIAL_MARKER}999999-cafebabe-old.mp4`); // an older version's name: not provably ours
    const otherHost = path.join(dir, `${PARTIAL_MARKER}0123456789ab-999999-cafebabe-x.mp4`);
    await writeFile(older, 'x');
    await writeFile(otherHost, 'x');

    await removeLeftovers(dir);
    expect(await exists(written.partial)).toBe(true);
    expect(await exists(written.work)).toBe(true);

    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    await removeLeftovers(dir);
    expect(await exists(written.partial)).toBe(false);
    expect(await exists(written.work)).toBe(false);
    expect(await exists(older)).toBe(true);
    expect(await exists(otherHost)).toBe(true);
  });

  it('keeps the files of a process in another pid namespace, even when its pid is free here', async (ctx) => {
    if (!canUnshare()) {
      console.warn('SKIPPED: needs root and unshare --pid (a second pid namespace)');
      ctx.skip();
    }
    const dir = out();
    await mkdir(dir, { recursive: true });
    // Make the writer's pid inside its namespace one that no process has here, so a pid check alone
    // would call it dead.
    let lastPid = 200_000;
    while (!pidIsFree(lastPid + 1)) lastPid += 1000;
    const script = 'echo "$1" > /proc/sys/kernel/ns_last_pid && shift && "$@"; true';
    const { child, written } = await start('unshare', ['--pid', '--fork', '--kill-child', '--mount-proc', 'sh', '-c', script, 'sh', String(lastPid), process.execPath, '--import', 'tsx', WRITER, dir]);
    expect(written.pid).toBe(lastPid + 1);
    expect(pidIsFree(written.pid)).toBe(true);
    expect(isDeadLeftover(path.basename(written.partial), PARTIAL_MARKER)).toBe(false);

    await removeLeftovers(dir);
    expect(await exists(written.partial)).toBe(true);
    expect(await exists(written.work)).toBe(true);

    // Gone or not, a process of another namespace is never provably dead from here.
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    await removeLeftovers(dir);
    expect(await exists(written.partial)).toBe(true);
    expect(await exists(written.work)).toBe(true);
    expect(path.basename(written.work).startsWith(`${WORK_PREFIX}${hostTag()}`)).toBe(false);
  });
});
