// `recmerge compose` (the whole class in one video, or one mixed .m4a per session) and `recmerge snapshots`.
import { InvalidArgumentError, Option, type Command } from 'commander';
// The library is loaded when a command runs, not when the CLI starts (`--version` loads none of it).
import type { ComposeSummary } from '../compose/api.js';
import type { SnapshotSummary } from '../snapshots/api.js';
import { addStorageOptions, parseSize, storageOptionsFrom, type StorageFlags } from './merge-options.js';
import { readNamesFile } from './names-file.js';
import { progressView } from './progress.js';

interface ComposeFlags extends StorageFlags {
  out: string;
  mode: 'av' | 'mix-audio';
  size?: { width: number; height: number };
  fps?: number;
  gaps: 'freeze' | 'black';
  labels?: boolean;
  namesFile?: string;
  maxTiles?: number;
  audioTiles?: boolean;
  joinSessions?: boolean;
  uid?: string[];
  preset?: string;
  force?: boolean;
  upload?: string;
  json?: boolean;
  quiet?: boolean;
}

interface SnapshotFlags extends StorageFlags {
  out: string;
  every: number;
  uid?: string[];
  force?: boolean;
  json?: boolean;
  quiet?: boolean;
}

const number = (what: string) => (value: string) => {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`${what} must be a number.`);
  return n;
};

const print = (text: string) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
const secs = (ms: number) => `${(ms / 1000).toFixed(3)}s`;

export function formatCompose(summary: ComposeSummary): string {
  const out: string[] = [];
  for (const r of summary.results) {
    if (r.error) out.push(`✗ ${r.id}: ${r.error}`);
    else if (r.skipped) out.push(`= ${r.file} (exists; --force to redo)`);
    else out.push(`✓ ${r.file} (${secs(r.durationMs)}, ${r.uids.length} user(s): ${r.uids.join(' ')}, ${secs(r.elapsedMs)})${r.layoutFile ? `\n    layout ${r.layoutFile}` : ''}`);
    for (const w of r.warnings) out.push(`    warning: ${w}`);
  }
  if (summary.results.length === 0) out.push('Nothing was composed: no recording (or no requested UID) was found in the source.');
  if (summary.ignored.length > 0) out.push(`Ignored ${summary.ignored.length} non-recording file(s) (see \`recmerge inspect\`).`);
  return out.join('\n');
}

export function formatSnapshots(summary: SnapshotSummary): string {
  const out: string[] = [];
  for (const r of summary.results) {
    out.push(r.error ? `✗ ${r.sid}/${r.uid}: ${r.error}` : `✓ ${r.sid}/${r.uid}: ${r.files.length} picture(s)`);
    for (const w of r.warnings) out.push(`    warning: ${w}`);
  }
  if (summary.results.length === 0) out.push('No picture was taken: no video (or no requested UID) was found in the source.');
  return out.join('\n');
}

export function registerComposeCommands(program: Command, interruptSignal: () => { signal: AbortSignal; release: () => void }): void {
  const compose = program
    .command('compose')
    .description('the whole class in one video per session: a grid of everyone present, all audio mixed (or --mode mix-audio: the mix only)')
    .argument('<source>', 'folder with the downloaded recording, or s3://bucket/prefix')
    .requiredOption('-o, --out <dir>', 'output folder')
    .addOption(new Option('--mode <mode>', 'av: composite MP4 + layout sidecar; mix-audio: one mixed .m4a per session').choices(['av', 'mix-audio']).default('av'))
    .option('--size <WxH>', 'output size (default 1280x720)', parseSize)
    .option('--fps <n>', 'output frame rate (default 15)', number('fps'))
    .addOption(new Option('--gaps <how>', "gaps in a user's video while present: last frame (freeze) or black").choices(['freeze', 'black']).default('freeze'))
    .option('--labels', "draw each user's UID in its tile")
    .option('--names-file <csv>', 'uid,name lines: draw these names instead of UIDs (implies --labels)')
    .option('--max-tiles <n>', 'at most this many tiles; beyond, the most recently audible users are shown (default: 16)', number('max-tiles'))
    .option('--audio-tiles', 'users with audio but no video get a black tile')
    .option('--join-sessions', 'one composite per channel across recording sessions (sids)')
    .option('--uid <uid...>', 'only these UIDs')
    .option('--preset <preset>', 'x264 preset (default: veryfast)')
    .option('--force', 'redo outputs that already exist')
    .option('--upload <s3url>', 'upload finished files (and layout sidecars) to s3://bucket/prefix')
    .option('--json', 'print a machine-readable summary on stdout')
    .option('-q, --quiet', 'no progress output');
  addStorageOptions(compose);
  compose.action(async (source: string, flags: ComposeFlags) => {
    const names = flags.namesFile ? await readNamesFile(flags.namesFile) : null;
    const { signal, release } = interruptSignal();
    const view = progressView({ source, quiet: flags.quiet === true || (flags.json === true && !process.stderr.isTTY), json: flags.json });
    try {
      const { composeRecordings } = await import('../compose/api.js');
      const summary = await composeRecordings({
        source,
        outDir: flags.out,
        ...storageOptionsFrom(flags),
        mode: flags.mode,
        size: flags.size,
        fps: flags.fps,
        gaps: flags.gaps,
        labels: names ?? flags.labels === true,
        maxTiles: flags.maxTiles,
        audioTiles: flags.audioTiles,
        joinSessions: flags.joinSessions,
        uids: flags.uid,
        preset: flags.preset,
        force: flags.force,
        upload: flags.upload,
        signal,
        // A composite belongs to a session, not to one user: it is shown under its file name.
        onProgress: view ? (p) => view.update({ ...p, uid: '', sid: null, phase: p.phase === 'compose' ? 'merge' : p.phase }) : undefined,
      }).finally(() => view?.finish(null));
      if (flags.json) print(JSON.stringify(summary, null, 2));
      else if (!flags.quiet || !summary.ok) print(formatCompose(summary));
      process.exitCode = summary.ok ? 0 : 1;
    } finally {
      release();
    }
  });

  const snapshots = program
    .command('snapshots')
    .description("a JPEG per user every N seconds of wall clock while the user's video is present (the script's -c)")
    .argument('<source>', 'folder with the downloaded recording, or s3://bucket/prefix')
    .requiredOption('-o, --out <dir>', 'output folder')
    .requiredOption('--every <seconds>', 'seconds of wall clock between two pictures of a user', number('every'))
    .option('--uid <uid...>', 'only these UIDs')
    .option('--force', 'redo pictures that already exist')
    .option('--json', 'print a machine-readable summary on stdout')
    .option('-q, --quiet', 'no progress output');
  addStorageOptions(snapshots);
  snapshots.action(async (source: string, flags: SnapshotFlags) => {
    const { signal, release } = interruptSignal();
    try {
      let shown = -1;
      const { snapshotRecordings } = await import('../snapshots/api.js');
      const summary = await snapshotRecordings({
        source,
        outDir: flags.out,
        ...storageOptionsFrom(flags),
        every: flags.every,
        uids: flags.uid,
        force: flags.force,
        signal,
        onProgress: flags.quiet || flags.json ? undefined : (done, total) => {
          const quarter = Math.floor((done / total) * 4);
          if (quarter !== shown) process.stderr.write(`snapshots: ${done}/${total}\n`);
          shown = quarter;
        },
      });
      if (flags.json) print(JSON.stringify(summary, null, 2));
      else if (!flags.quiet || !summary.ok) print(formatSnapshots(summary));
      process.exitCode = summary.ok ? 0 : 1;
    } finally {
      release();
    }
  });
}
