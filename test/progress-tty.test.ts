// The progress display as a person sees it: the built CLI on a real terminal (tmux, 80 columns), the
// screen captured while it runs. ffmpeg is slowed to real time (-readrate 1 before each input) through
// FFMPEG_PATH so that the running state can be seen; everything else is the real thing.
import { execFile } from 'node:child_process';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN } from './support/cli.js';
import { playlistName, writeRecording } from './support/recording-fixture.js';
import { T0, tempDir } from './support/sync.js';

const run = promisify(execFile);
const SID = '00aa11bb22cc33dd44ee55ff66778899';
const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

describe('progress on a terminal (tmux, 80 columns)', () => {
  let dir: string;
  let root: string;
  let slowFfmpeg: string;
  // One tmux server per run: a server whose last session ended exits, and a new session sent to it
  // then can fail with "server exited unexpectedly".
  const sockets: string[] = [];
  const tmuxOn = (socket: string) => (...args: string[]) => run('tmux', ['-L', socket, ...args]);

  beforeAll(async () => {
    dir = await tempDir('tty');
    root = path.join(dir, 'rec');
    const av = (startMs: number) => ({ audio: [{ startMs, durationMs: 4000 }], video: [{ startMs, durationMs: 4000, width: 160, height: 90, fps: 15 }] });
    await writeRecording(root, { sid: SID, cname: 'tty_room', users: [{ uid: '10', ...av(T0) }, { uid: '20', ...av(T0) }, { uid: '30', audio: [{ startMs: T0, durationMs: 2000 }] }] });
    // uid 30 cannot be merged: its failure must show, in red on a terminal.
    await writeFile(path.join(root, playlistName({ sid: SID, cname: 'tty_room' }, '30', 'audio')), 'not a playlist');
    slowFfmpeg = path.join(dir, 'slow-ffmpeg');
    const real = (await run('sh', ['-c', 'command -v ffmpeg'])).stdout.trim();
    await writeFile(
      slowFfmpeg,
      `#!/bin/sh\n# ffmpeg reading its inputs at real time\nfor a in "$@"; do\n  if [ "$a" = "-i" ]; then set -- "$@" -readrate 1 -i; else set -- "$@" "$a"; fi\n  shift\ndone\nexec ${real} "$@"\n`,
    );
    await chmod(slowFfmpeg, 0o755);
  });

  afterAll(async () => {
    for (const socket of sockets) await tmuxOn(socket)('kill-server').catch(() => undefined);
  });

  /** Runs the CLI in a detached 80x24 tmux pane; returns screen captures taken until it ends. */
  async function watch(args: string[], env: Record<string, string>): Promise<{ screens: string[]; code: number }> {
    const id = Math.random().toString(16).slice(2);
    const socket = `recmerge-test-${process.pid}-${id}`;
    sockets.push(socket);
    const tmux = tmuxOn(socket);
    const done = path.join(dir, `done-${id}`);
    const envs = Object.entries(env).map(([k, v]) => `${k}=${quote(v)}`).join(' ');
    const command = `env ${envs} ${quote(process.execPath)} ${quote(BIN)} ${args.map(quote).join(' ')}; echo $? > ${quote(done)}; sleep 60`;
    await tmux('new-session', '-d', '-x', '80', '-y', '24', '-s', 'w', command);
    const screens: string[] = [];
    let code: number | null = null;
    for (let i = 0; i < 600 && code === null; i++) {
      // -J joins lines the terminal wrapped, so a line wider than the screen shows as one long line.
      screens.push((await tmux('capture-pane', '-p', '-J', '-e', '-t', 'w')).stdout);
      code = await readFile(done, 'utf8').then((t) => Number(t.trim()), () => null);
      await new Promise((r) => setTimeout(r, 100));
    }
    screens.push((await tmux('capture-pane', '-p', '-J', '-e', '-t', 'w')).stdout);
    await tmux('kill-server').catch(() => undefined);
    return { screens, code: code ?? -1 };
  }

  // eslint-disable-next-line no-control-regex
  const plain = (s: string) => s.replace(/\u001b\[[0-9;?]*[A-Za-z]/g, '');

  it('shows at once what it is doing, then per user phase, position, speed and ETA plus an overall line, within 80 columns', async () => {
    const { screens, code } = await watch(['merge', root, '-o', path.join(dir, 'out'), '--concurrency', '2'], { FFMPEG_PATH: slowFfmpeg, TERM: 'xterm-256color' });
    expect(code).toBe(1); // uid 30 cannot be merged
    const text = screens.map(plain);
    // Something is on screen from the start: the first non-empty screen says what is being read.
    const first = text.find((s) => s.trim() !== '')!;
    expect(first).toMatch(/recmerge: reading .*rec \(listing, playlists, probing\)\s+elapsed 0:0\d/);
    // While merging: one line per user, told apart by UID, each with phase, bar, percentage, position, speed, ETA.
    const running = text.find((s) => /^uid 10 +merge +\[#*-*\] +\d+% +[\d.]+\/4\.0s +[\d.]+x +ETA 0:0\d$/m.test(s) && /^uid 20 +merge /m.test(s));
    expect(running, text.join('\n=====\n')).toBeDefined();
    if (process.env.RECMERGE_SHOW_SCREEN) console.log(running);
    expect(running).toMatch(/^all [012]\/2 done \[[#-]+\] +\d+% +elapsed \d:\d\d/m);
    // Every progress line fits (the end-of-run report of full file paths may be longer, as in any log).
    const progressLines = text.flatMap((screen) => screen.split('\n')).filter((l) => /^(uid |all |recmerge: )/.test(l));
    expect(progressLines.length).toBeGreaterThan(5);
    for (const line of progressLines) expect(line.length, line).toBeLessThanOrEqual(80);
    // At the end: the results, and the failure in red (a terminal).
    const last = screens.at(-1)!;
    expect(plain(last)).toMatch(/✓ .*__uid_s_10__uid_e_av\.mp4/);
    // eslint-disable-next-line no-control-regex
    expect(last).toMatch(/\u001b\[31m✗ [^\n]*\(uid 30\)/);
  });

  it('compose shows the same display: its composite labelled by channel, an overall line, the reading line gone once it works', async () => {
    const { screens, code } = await watch(['compose', root, '-o', path.join(dir, 'out-compose'), '--size', '320x180'], { FFMPEG_PATH: slowFfmpeg, TERM: 'xterm-256color' });
    expect(code).toBe(1); // uid 30 is left out of the composite
    const text = screens.map(plain);
    const running = text.find((s) => /^composite tty_room +compose +\[#*-*\] +\d+% +[\d.]+\/4\.0s/m.test(s));
    expect(running, text.join('\n=====\n')).toBeDefined();
    expect(running).toMatch(/^all 0\/1 done \[[#-]+\] +\d+% +elapsed \d:\d\d/m);
    expect(running).not.toMatch(/recmerge: reading/);
    for (const line of text.flatMap((screen) => screen.split('\n')).filter((l) => /^(composite |all |recmerge: )/.test(l))) expect(line.length, line).toBeLessThanOrEqual(80);
  });

  it('has no colour with NO_COLOR', async () => {
    const { screens } = await watch(['merge', root, '-o', path.join(dir, 'out-nocolor'), '-q'], { NO_COLOR: '1', TERM: 'xterm-256color' });
    const last = screens.at(-1)!;
    expect(plain(last)).toMatch(/✗ .*\(uid 30\)/);
    expect(last.includes('\u001b[3')).toBe(false);
  });
});
