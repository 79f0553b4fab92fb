// `recmerge compose` (the whole class in one video, or one mixed .m4a per session) and `recmerge snapshots`:
// their own flags over the ones every recording command shares (see run-command.ts).
import { InvalidArgumentError, Option, type Command } from 'commander';
import { UsageError } from '../core/errors.js';
import { DEFAULT_PRESET, TUNED_PRESET } from '../core/options.js';
import { loudnormOption, parseSize } from './merge-options.js';
import { readNamesFile } from './names-file.js';
import { addRunOptions, runRecordingCommand, type RunFlags } from './run-command.js';

interface ComposeFlags extends RunFlags {
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
  loudnorm?: boolean | number;
  layout: 'grid' | 'speaker' | 'vertical';
}

interface SnapshotFlags extends RunFlags {
  every?: number;
  at?: string[];
  uid?: string[];
}

const number = (what: string) => (value: string) => {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`${what} must be a number.`);
  return n;
};

export function registerComposeCommands(program: Command): void {
  const compose = program
    .command('compose')
    .description('the whole class in one video per session: a grid of everyone present, all audio mixed (or --mode mix-audio: the mix only)')
    .argument('<source>', 'folder with the downloaded recording, or s3://bucket/prefix')
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
    .option('--preset <preset>', `encoder settings: ${TUNED_PRESET} (tuned, see README) or an x264 preset (default: ${DEFAULT_PRESET})`)
    .addOption(loudnormOption('each voice, then the mix,'))
    .addOption(
      new Option('--layout <layout>', 'grid: everyone alike; speaker: whoever speaks in a big tile, the others in a strip below; vertical: big tile and a column')
        .choices(['grid', 'speaker', 'vertical'])
        .default('grid'),
    );
  addRunOptions(compose, { things: 'composites (and layout sidecars)', concurrency: '1' });
  compose.action(async (source: string, flags: ComposeFlags) => {
    const names = flags.namesFile ? await readNamesFile(flags.namesFile) : null;
    const { composeRecordings, planComposition } = await import('../api.js');
    const { composeWords, formatComposePlan, summaryLines } = await import('./report.js');
    const options = {
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
      loudnorm: flags.loudnorm,
      layout: flags.layout,
    };
    await runRecordingCommand({
      source,
      flags,
      plan: (common) => planComposition({ ...common, ...options }),
      formatPlan: formatComposePlan,
      planFailed: (plan) => plan.failures.length > 0,
      run: (common) => composeRecordings({ ...common, ...options }),
      report: (summary) => summaryLines(summary, composeWords),
    });
  });

  const snapshots = program
    .command('snapshots')
    .description("a JPEG per user every N seconds of wall clock while the user's video is present (the script's -c)")
    .argument('<source>', 'folder with the downloaded recording, or s3://bucket/prefix')
    .option('--every <seconds>', 'seconds of wall clock between two pictures of a user (on the session\'s grid)', number('every'))
    .option('--at <instant...>', 'or: pictures at these instants (17-digit UTC or ISO 8601), of every user whose video is present then')
    .option('--uid <uid...>', 'only these UIDs');
  addRunOptions(snapshots, { things: 'pictures', concurrency: 'CPU count' });
  snapshots.action(async (source: string, flags: SnapshotFlags) => {
    const { planSnapshotRecordings, snapshotRecordings } = await import('../api.js');
    const { formatSnapshotPlan, snapshotWords, summaryLines } = await import('./report.js');
    const { parseUtc17 } = await import('../core/names.js');
    // A wall-clock instant: 17-digit UTC as in the service's names (`20240506070809123`) or ISO 8601.
    const at = flags.at?.map((value) => {
      const ms = /^\d{17}$/.test(value) ? parseUtc17(value) : /^\d{4}-\d\d-\d\dT/.test(value) ? Date.parse(value) : null;
      if (ms === null || !Number.isFinite(ms)) throw new UsageError(`--at ${value}: an instant is 17-digit UTC (20240506070809123) or ISO 8601 (2024-05-06T07:08:09.123Z)`);
      return ms;
    });
    const options = { every: flags.every, at, uids: flags.uid };
    await runRecordingCommand({
      source,
      flags,
      plan: (common) => planSnapshotRecordings({ ...common, ...options }),
      formatPlan: formatSnapshotPlan,
      planFailed: (plan) => plan.failures.length > 0,
      run: (common) => snapshotRecordings({ ...common, ...options }),
      report: (summary) => summaryLines(summary, snapshotWords),
    });
  });
}
