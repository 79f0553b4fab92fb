// The CLI as a user runs it: a real process, its stdout, stderr and exit code.
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { playlistName, writeRecording } from './support/recording-fixture.js';
import { T0, tempDir } from './support/sync.js';

const CLI = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
const SID = '1234abcd1234abcd1234abcd1234abcd';

function recmerge(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', CLI, ...args], { env: { ...process.env, FORCE_COLOR: '0' } }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

describe('recmerge CLI', () => {
  let root: string;
  beforeAll(async () => {
    root = await tempDir('cli');
    const video = [{ startMs: T0, durationMs: 2000, width: 160, height: 90, fps: 15 }];
    await writeRecording(root, {
      sid: SID,
      cname: 'cli_room',
      users: [
        { uid: '10', audio: [{ startMs: T0, durationMs: 2000 }], video },
        { uid: '20', audio: [{ startMs: T0, durationMs: 2000 }], video },
      ],
    });
    await writeFile(path.join(root, 'readme.txt'), 'not a recording');
  });

  it('merge --json prints a machine summary and exits 0 when every output is written', async () => {
    const { code, stdout } = await recmerge(['merge', root, '-o', `${root}-json`, '--json']);
    expect(code).toBe(0);
    const summary = JSON.parse(stdout);
    expect(summary.ok).toBe(true);
    expect(summary.results.map((r: { uid: string }) => r.uid).sort()).toEqual(['10', '20']);
    expect(summary.results[0]).toMatchObject({ videoPath: 'copy', audioPath: 'copy', error: null });
    expect(summary.ignored).toEqual([{ key: 'readme.txt', reason: expect.stringContaining('not a recording file') }]);
  });

  it('exits 1 when some outputs failed, still writing the others, and names the broken file', async () => {
    const broken = await tempDir('cli-broken');
    await writeRecording(broken, {
      sid: SID,
      cname: 'cli_room',
      users: [{ uid: '10', audio: [{ startMs: T0, durationMs: 2000 }] }, { uid: '20', audio: [{ startMs: T0, durationMs: 2000 }] }],
    });
    await writeFile(path.join(broken, playlistName({ sid: SID, cname: 'cli_room' }, '20', 'audio')), 'garbage instead of a playlist');
    const { code, stdout } = await recmerge(['merge', broken, '-o', `${broken}-out`, '--quiet']);
    expect(code).toBe(1);
    expect(stdout).toMatch(/✓ .*__uid_s_10__uid_e_audio\.m4a/);
    expect(stdout).toMatch(/✗ .*\/20: /);
  });

  it('exits 2 on usage errors', async () => {
    expect((await recmerge(['merge', root])).code).toBe(2); // no -o
    expect((await recmerge(['merge', root, '-o', 'x', '--gaps', 'sometimes'])).code).toBe(2);
    expect((await recmerge(['merge', root, '-o', 'x', '--fps', '0'])).code).toBe(2);
    const missing = await recmerge(['merge', path.join(root, 'nope'), '-o', 'x']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/nope: no such folder/);
  });

  it('says so, and exits 1, when there is nothing to merge', async () => {
    const { code, stdout } = await recmerge(['merge', root, '-o', `${root}-none`, '--uid', '999', '--quiet']);
    expect(code).toBe(1);
    expect(stdout).toMatch(/Nothing was merged: no recording \(or no requested UID\) was found/);
  });

  it('inspect shows sessions, users, tracks and ignored files without merging', async () => {
    const { code, stdout } = await recmerge(['inspect', root]);
    expect(code).toBe(0);
    expect(stdout).toContain(`session ${SID}  cname cli_room`);
    expect(stdout).toMatch(/uid 10 .*2024-05-06 07:08:09\.123/);
    expect(stdout).toMatch(/video: \d+ slices, H\.264, 160x90/);
    expect(stdout).toContain('readme.txt: not a recording file');
    const json = JSON.parse((await recmerge(['inspect', root, '--json'])).stdout);
    expect(json.sessions[0].uids).toHaveLength(2);
  });

  it('--dry-run prints the plan and the path each output would take', async () => {
    const { code, stdout } = await recmerge(['merge', root, '-o', `${root}-dry`, '--dry-run', '--gaps', 'black', '--fps', '10']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/video: transcode because --fps asks for a constant frame rate/);
    expect(stdout).toMatch(/audio: copy/);
  });
});
