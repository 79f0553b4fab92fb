// Which recorder mode made a session's files (README "Recorder modes"), from names alone (inspect reads
// no media). Every finding says why, and whether it is a guess: the docs describe the modes' file names
// but publish no sample files for raw mode, and default and original mode write the same names.
import type { RecorderMode, RecorderModeFinding, RecordingName } from './types.js';

const RAW_WHY = "raw-mode names (mode=raw is read as the docs' migration page describes it; no sample files are published)";

/** The modes seen in one session's files, one finding per mode (several: a mix), in a fixed order. */
export function detectModes(names: RecordingName[]): RecorderModeFinding[] {
  const found = new Map<string, RecorderModeFinding>();
  const add = (uid: string, mode: RecorderMode, example: string, why: string, guess: boolean, or?: RecorderMode[]) => {
    const id = `${mode}/${or?.join('/') ?? ''}`;
    const f = found.get(id);
    if (f) {
      if (!f.uids.includes(uid)) f.uids.push(uid);
      return;
    }
    found.set(id, { mode, ...(or ? { or } : {}), why: `${why}, e.g. ${example}`, guess, uids: [uid] });
  };
  const byUid = new Map<string, RecordingName[]>();
  for (const n of names) {
    const list = byUid.get(n.uid);
    if (list) list.push(n);
    else byUid.set(n.uid, [n]);
  }
  for (const [uid, list] of byUid) {
    const raw = list.find((n) => n.type === 'muxed' || n.type === 'segment' || (n.type === 'index' && n.mode === 'raw') || (n.type === 'mp4' && n.videoCodec !== null));
    if (raw) add(uid, 'raw', raw.key, RAW_WHY, true);
    const av = list.find((n) => n.type === 'index' && n.mode === 'standard');
    const tracks = list.filter((n) => n.type === 'playlist' || n.type === 'slice');
    const webmAudio = tracks.find((n) => n.type === 'slice' && n.media === 'audio' && n.container === 'webm');
    if (av) add(uid, 'standard', av.key, "standard mode's av index", false);
    else if (webmAudio) {
      // Guess: the docs name WebM audio only for standard mode's Web VP8 sender.
      add(uid, 'standard', webmAudio.key, 'WebM audio slices, which only standard mode writes (for a Web VP8 sender), but no av index', true);
    } else if (tracks.length > 0) {
      const video = tracks.find((n) => n.media === 'video');
      if (video) add(uid, 'default', video.key, 'audio and video playlists without an av index', false);
      else {
        // Guess: streamTypes 0 (audio only) in default mode and original mode write the same names; only
        // the codec inside tells (original keeps the sender's, so Opus in TS means original).
        add(uid, 'default', tracks[0]!.key, 'audio-only playlists: default mode recording audio only and original mode write the same names (Opus in the TS slices, seen when merging, means original)', true, ['original']);
      }
    }
  }
  const order: RecorderMode[] = ['default', 'standard', 'original', 'raw'];
  return [...found.values()].sort((a, b) => order.indexOf(a.mode) - order.indexOf(b.mode));
}

/** One line for a session's (or a folder's) modes: `standard`, `default (or original, a guess)`, `mix: default + raw`. */
export function describeModes(findings: RecorderModeFinding[]): string {
  const modes = [...new Set(findings.map((f) => f.mode))];
  if (modes.length === 0) return 'unknown (no recording files)';
  const one = (f: RecorderModeFinding) => `${f.mode}${f.or ? ` (or ${f.or.join('/')})` : ''}${f.guess ? ' [guess]' : ''}`;
  const distinct = [...new Map(findings.map((f) => [one(f), f])).values()];
  return distinct.length === 1 ? one(distinct[0]!) : `mix: ${distinct.map(one).join(' + ')}`;
}
