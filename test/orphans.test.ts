// ffmpeg dies with recmerge, even when recmerge is SIGKILLed in the middle of a merge (no handler runs
// then): a real CLI process, a real ffmpeg encoding, kill -9, and no ffmpeg left afterwards.
import { spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { parentDeathWrapper } from '../src/ffmpeg/runner.js';
import { writeRecording } from './support/recording-fixture.js';
import { T0, tempDir } from './support/sync.js';

const CLI = fileURLToPath(new URL('../src/cli.ts', import.meta.url));

/** Live (not zombie) processes whose parent is `ppid`, with their command name. */
async function childrenOf(ppid: number): Promise<{ pid: number; comm: string }[]> {
  const found: { pid: number; comm: string }[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => '');
    // pid (comm) state ppid …; comm may hold spaces and parentheses, so split at the last ')'.
    const close = stat.lastIndexOf(')');
    const [state, parent] = stat.slice(close + 2).split(' ');
    if (Number(parent) === ppid && state !== 'Z') found.push({ pid: Number(name), comm: stat.slice(stat.indexOf('(') + 1, close) });
  }
  return found;
}

async function isRunning(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  return stat !== '' && stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let source: string;

beforeAll(async () => {
  source = await tempDir('orphans');
  await writeRecording(source, {
    sid: '0fa0fa0fa0fa0fa0fa0fa0fa0fa0fa0f',
    cname: 'orphans',
    users: [{ uid: '7', audio: [{ startMs: T0, durationMs: 6000, sliceMs: 2000 }], video: [{ startMs: T0, durationMs: 6000, sliceMs: 2000, width: 160, height: 90, fps: 15 }] }],
  });
});

describe('ffmpeg and a SIGKILLed recmerge', () => {
  it('no ffmpeg survives kill -9 of the recmerge process that started it', async (ctx) => {
    if (!parentDeathWrapper()) {
      console.warn('SKIPPED: no setpriv --pdeathsig on this machine (ffmpeg can outlive a SIGKILLed recmerge here)');
      ctx.skip();
    }
    const out = await tempDir('orphans-out');
    // A slow encode (big canvas, high rate, slow preset) so that ffmpeg is busy when the kill comes.
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'merge', source, '-o', out, '--transcode', '--size', '1920x1080', '--fps', '60', '--preset', 'veryslow', '-q'], {
      stdio: 'ignore',
    });
    const exited = new Promise((r) => child.once('exit', r));
    // The encode: an ffmpeg child still running 300 ms after it was first seen (short ones come and go first).
    let ffmpeg: { pid: number; comm: string }[] = [];
    const deadline = Date.now() + 60_000;
    while (ffmpeg.length === 0 && Date.now() < deadline && child.exitCode === null) {
      const seen = (await childrenOf(child.pid!)).filter((c) => c.comm === 'ffmpeg');
      if (seen.length === 0) {
        await sleep(20);
        continue;
      }
      await sleep(300);
      const still = await Promise.all(seen.map((p) => isRunning(p.pid)));
      ffmpeg = seen.filter((_, i) => still[i]);
    }
    expect(ffmpeg.length, 'an ffmpeg was busy encoding under recmerge').toBeGreaterThan(0);
    child.kill('SIGKILL');
    await exited;
    const until = Date.now() + 2000;
    let survivors = ffmpeg;
    while (survivors.length > 0 && Date.now() < until) {
      await sleep(50);
      const still = await Promise.all(survivors.map((p) => isRunning(p.pid)));
      survivors = survivors.filter((_, i) => still[i]);
    }
    for (const p of survivors) process.kill(p.pid, 'SIGKILL');
    expect(survivors.map((p) => p.pid), 'ffmpeg processes still running 2 s after their recmerge was SIGKILLed').toEqual([]);
  });
});
