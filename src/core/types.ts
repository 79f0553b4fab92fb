// Data shapes of the pure core: file names -> inventory -> merge plan.
// Wall-clock instants are Unix epoch milliseconds; durations are milliseconds (may be fractional).

export type MediaKind = 'audio' | 'video';
export type SliceContainer = 'ts' | 'webm';
export type Rotation = 0 | 90 | 180 | 270;

/** A problem found in the input; never thrown, always reported. */
export interface Problem {
  /** 'error' costs data (a slice, a track or a UID); 'warning' is informational. */
  severity: 'error' | 'warning';
  /** Storage key the problem is about (relative to the source root). */
  key?: string;
  message: string;
  /** When this problem stands for several with the same message (see collapseProblems): how many. */
  count?: number;
}

/**
 * The recorder's output modes (see README "Recorder modes"): legacy individual `default` and `standard`
 * (the same playlists, standard adds a per-UID av index), `original` (audio only, the sender's codec) and
 * the current API's `raw` (one index per UID, audio and video muxed in one slice).
 */
export type RecorderMode = 'default' | 'standard' | 'original' | 'raw';

/** Fields every recorder file name has. */
export interface NameBase {
  key: string;
  /** Directory part of the key ('' at the root), with a trailing '/'. */
  dir: string;
  backup: number | null;
  sid: string;
  cname: string;
  uid: string;
}

/** A track playlist: `__uid_e_<audio|video>[_<tick>_<index>].m3u8`. */
export interface PlaylistName extends NameBase {
  type: 'playlist';
  media: MediaKind;
  /** `_<tick>_<index>` re-upload copy, if any. */
  copy: { tick: string; index: number } | null;
}

/** A slice of one track: `__uid_e_<audio|video>_<utc>.ts|.webm`. */
export interface SliceName extends NameBase {
  type: 'slice';
  media: MediaKind;
  container: SliceContainer;
  /** Wall-clock start from the 17-digit UTC in the name. */
  startMs: number;
}

/** What a storage key's name says, per the service's naming rules. */
export type RecordingName =
  | PlaylistName
  | SliceName
  | IndexName
  | MuxedSliceName
  | SegmentName
  | Mp4Name;

/**
 * A per-UID index that is not a media playlist of one track: standard mode's `__uid_e_av.m3u8` (master
 * style: names the audio and video playlists) or `__uid_e_av.mpd` (DASH naming WebM slices); raw mode's
 * `__uid_e_<videocodec>.m3u8` (a media playlist of muxed A+V slices) or `.mpd` (DASH naming WebM segments).
 */
export interface IndexName extends NameBase {
  type: 'index';
  mode: 'standard' | 'raw';
  format: 'm3u8' | 'mpd';
  /** Raw mode: the video codec the name carries (`h264`, `h265`, `av1`, `vp8`, `vp9`). */
  videoCodec: string | null;
  /** `_<tick>_<index>` re-upload copy of an m3u8 index, if any. */
  copy: { tick: string; index: number } | null;
}

/** Raw mode: a TS slice holding audio AND video, `__uid_e_<utc>_<videocodec>.ts`. */
export interface MuxedSliceName extends NameBase {
  type: 'muxed';
  container: 'ts';
  startMs: number;
  videoCodec: string;
}

/**
 * Raw mode: a WebM segment of a DASH index, `__uid_e_<stream>_<segment>_<videocodec>.webm`. The name has
 * no UTC (unless <segment> is one): the MPD places it.
 */
export interface SegmentName extends NameBase {
  type: 'segment';
  container: 'webm';
  /** `audio`, `video` or a number (the DASH stream / representation). */
  stream: string;
  segment: string;
  videoCodec: string;
  /** The instant <segment> gives when it is a 17-digit UTC; else null. */
  startMs: number | null;
}

/**
 * An MP4 the service made itself: raw mode's `__uid_e_<index>_<videocodec>.mp4`, or the postponed
 * transcoding's `__uid_e_<index>.mp4`. Recognised and reported, not merged.
 */
export interface Mp4Name extends NameBase {
  type: 'mp4';
  index: number;
  /** null for a postponed-transcoding MP4. */
  videoCodec: string | null;
}

export interface RotateTag {
  width: number;
  height: number;
  rotation: Rotation;
  timeMs: number | null;
}

export interface TrackEventTag {
  event: string;
  trackType: string;
  timeMs: number | null;
}

/** One slice of a track, placed on the wall clock. */
export interface Slice {
  key: string;
  container: SliceContainer;
  startMs: number;
  durationMs: number;
  /** A #EXT-X-DISCONTINUITY stood before it (restart, size or codec change). */
  discontinuity: boolean;
  /** Rotation in force for this slice (degrees the picture is turned anticlockwise). */
  rotation: Rotation;
  /** Coded size announced by the last EXT-X-AGORA-ROTATE tag, if any. */
  codedSize: { width: number; height: number } | null;
  /** Written by a high-availability backup recorder (`bak<n>_`). */
  backup: boolean;
  /** Whether storage holds the file (false: listed by the playlist but never uploaded). */
  present: boolean;
  /** The picture turns inside the slice (`#EXT-X-AGORA-ROTATE` with a TIME after the slice starts). */
  turns?: { atMs: number; rotation: Rotation }[];
  /**
   * Raw mode: the file holds audio AND video (one file, two tracks). The same slice (same key, start and
   * length) stands in the UID's audio track and in its video track; both streams share the file's clock.
   */
  muxed?: true;
  /** The video codec a raw-mode name carries (`h264`, `h265`, `av1`, `vp8`, `vp9`), when it has one. */
  nameCodec?: string;
  /** Not present because the run found it unreadable (set by markMissing); otherwise an absent slice is missing. */
  unreadable?: true;
}

/**
 * What reading a slice's bytes tells beyond its playlist entry (TS slices are scanned in Node, WebM
 * slices probed): the placement of its media is measured, never taken from #EXTINF alone.
 */
export interface SliceMedia {
  hasVideo: boolean;
  hasAudio: boolean;
  /** The slice's first timestamp as ffmpeg sees it (seconds): concat in/out points are in these units. */
  startS: number;
  /** Real length (ms): from the first timestamp to the end of the last frame or sample. */
  lengthMs: number;
  /** Video: presentation offsets (ms from startS) of every frame, ascending. */
  frameOffsetsMs?: number[];
  /** Video: presentation offset (ms from startS) of the first keyframe; null when the slice has none. */
  firstKeyMs?: number | null;
  /** Video: the slice's first frame in decode order is a keyframe. */
  startsOnKey?: boolean;
  /** Video: how far (ms) presentation runs ahead of decoding (B-frame reordering); 0 without B-frames. */
  reorderMs?: number;
  /** Bytes that are not packets of the container (junk, a truncated tail): skipped. */
  junkBytes?: number;
  /** Audio: configuration of the first frame, and whether it changes inside the slice. */
  audio?: {
    sampleRate: number;
    channels: number;
    frames: number;
    changes: boolean;
    /**
     * Opus (TS or WebM): the samples (48 kHz) the stream says a player drops. `preSkip`: at the start (TS:
     * the first access unit's start_trim, which ffmpeg's TS demuxer IGNORES, so ffmpeg decodes them;
     * WebM: OpusHead's pre-skip / CodecDelay, which ffmpeg's decoder DOES drop, on every slice that carries
     * it, the first output sample then carrying the first packet's time + preSkip). `endTrim`: at the end
     * (TS: the last unit's end_trim). See README "Recorder modes".
     */
    opus?: { preSkip: number; endTrim: number };
  };
  /**
   * A slice holding audio AND video (raw mode): the earliest first timestamp of its streams (seconds),
   * which both share. The slice's UTC labels this instant (see README "Recorder modes"), so a stream
   * starts `startS - fileStartS` after the slice's UTC.
   */
  fileStartS?: number;
  /**
   * A slice that feeds both tracks (raw mode's muxed A+V TS): each stream measured on its own, or why that
   * stream cannot be used (the slice's time is then a gap in that track only). The fields above are the
   * video's (the audio's when only the audio can be used). See trackMedia in timeline.ts.
   */
  streams?: { audio: SliceMedia | { unusable: string }; video: SliceMedia | { unusable: string } };
}

export interface Track {
  media: MediaKind;
  /** The playlist that was used (the fullest copy). */
  playlistKey: string | null;
  /** Other playlists seen for this track (copies, backups). */
  otherPlaylists: string[];
  slices: Slice[];
  events: TrackEventTag[];
}

export interface UidRecording {
  uid: string;
  audio: Track | null;
  video: Track | null;
  problems: Problem[];
  /** A fatal problem: this UID cannot be merged. */
  failed: string | null;
  /** Indexes read for this UID besides its track playlists (standard mode's av index, raw mode's index). */
  indexes?: string[];
}

/** Which recorder mode made a session's files, and why recmerge thinks so. */
export interface RecorderModeFinding {
  mode: RecorderMode;
  /** Modes that write the same names, so that names alone cannot tell them apart (e.g. default/original). */
  or?: RecorderMode[];
  /** What shows it: the kind of file or shape, with one example key. */
  why: string;
  /** The docs do not settle it (no published sample files, or names shared between modes). */
  guess: boolean;
  /** UIDs it was seen for. */
  uids: string[];
}

export interface Session {
  sid: string;
  cname: string;
  /** Directory (key prefix) the session's files live in. */
  dir: string;
  uids: UidRecording[];
  /** Recorder modes seen in the session (several: a mix). Set by buildInventory. */
  modes?: RecorderModeFinding[];
}

/** A file of the recorder that recmerge recognises but does not merge (the service's own MP4s). */
export interface RecognisedFile {
  key: string;
  what: string;
}

export interface Inventory {
  sessions: Session[];
  /** Keys that are not part of a recording, with why. */
  ignored: { key: string; reason: string }[];
  problems: Problem[];
  /** Slices to place without a playlist entry whose length must be measured (see buildInventory). */
  unmeasured: string[];
  /** Recorder files that are recognised but not merged. Set by buildInventory. */
  recognised?: RecognisedFile[];
}

/** Facts read from the media for the first slice of each run (see readSliceFacts); keyed by slice key. */
export interface VideoFacts {
  codec: string;
  width: number;
  height: number;
  fps: number | null;
}

export interface AudioFacts {
  codec: string;
  sampleRate: number;
  channels: number;
  profile: string | null;
}

export interface MediaFacts {
  video?: VideoFacts;
  audio?: AudioFacts;
}

export type GapMode = 'freeze' | 'black' | 'cut';
export type MergeMode = 'av' | 'audio' | 'video' | 'segments';
export type NameStyle = 'recmerge' | 'script';
/** Whose clock a user's output is on: the user's own (its first instant) or the session's (channel's, with joined sessions). */
export type AlignClock = 'user' | 'session';
/** The container and codec of an audio-only merge output: AAC in .m4a, PCM in .wav, FLAC. */
export type AudioFormat = 'm4a' | 'wav' | 'flac';
export type MergePath = 'copy' | 'transcode';

/** A slice placed in output time. */
export interface PlacedSlice {
  key: string;
  /** Output-time offset of the slice's first sample/frame. */
  offsetMs: number;
  /** Time the slice owns in the output (up to the next slice, or its own length at the end of a run). */
  slotMs: number;
  /** The slice's own length (measured when its media was read, else #EXTINF). */
  durationMs: number;
  startMs: number;
  /** The slice's first timestamp (seconds, its own clock), when measured: concat out points need it. */
  mediaStartS?: number;
  /** Leading time (ms, slice time) that cannot be decoded: the run starts mid-GOP. Skipped, shown as black. */
  leadMs?: number;
  /** Picture turns inside the slice, in output time. */
  turns?: { atMs: number; rotation: Rotation }[];
  /** B-frame reordering delay (ms), when measured. */
  reorderMs?: number;
  /** Video, when measured: presentation offsets (ms from its first timestamp) of every frame the slice holds. */
  frameOffsetsMs?: number[];
  /** Video, when measured: the slice starts mid-GOP (cut on a frame that is not a keyframe). */
  startsMidGop?: boolean;
  /** The file holds audio and video (raw mode): a track reads its own stream from a copy (render/leads.ts). */
  muxed?: true;
}

/** A run of video slices that can be decoded as one stream: contiguous, same container, size and rotation. */
export interface VideoRun {
  slices: PlacedSlice[];
  container: SliceContainer;
  /** Rotation at the start of the run. */
  rotation: Rotation;
  /** Rotation changes inside the run (a phone turned mid-slice), output time, ascending. */
  turns: { atMs: number; rotation: Rotation }[];
  /** Decoded size before rotation. */
  width: number;
  height: number;
  codec: string;
  fps: number | null;
  offsetMs: number;
  endMs: number;
  /** What the run's start could not show (it starts mid-GOP): from `atMs` (output time) for `lostMs`, in `key`. */
  lead?: { atMs: number; lostMs: number; key: string };
}

export interface AudioRun {
  slices: PlacedSlice[];
  offsetMs: number;
  endMs: number;
  codec: string;
  sampleRate: number;
  channels: number;
  profile: string | null;
}

export interface Interval {
  startMs: number;
  endMs: number;
}

export interface VideoPlan {
  runs: VideoRun[];
  width: number;
  height: number;
  /** Output frame rate; null keeps the source timing (copy path). */
  fps: number | null;
  path: MergePath;
  reasons: string[];
  /** Output-time intervals with no video inside [0, duration). */
  gaps: Interval[];
  /**
   * Copy path: the rotation of every picture (degrees turned anticlockwise, as ROTATE says), written as the
   * MP4 display matrix so that players show them upright; width/height stay the coded size. 0 otherwise.
   */
  displayRotation: Rotation;
  /** Re-encoded outputs longer than this are encoded in chunks of about this many seconds (`--chunk`; see core/chunks.ts). */
  chunkS?: number;
}

export interface AudioPlan {
  runs: AudioRun[];
  path: MergePath;
  reasons: string[];
  gaps: Interval[];
  /**
   * Slices whose AAC configuration (channel count) changes inside them, as measured: the executor splits
   * the audio at every change into pieces of one configuration (see writePlacedAdts). Empty usually.
   */
  changesInside: string[];
}

/** A slice whose media runs into the next one's time: cut where the next starts (output time). */
export interface SliceOverlap {
  track: MediaKind;
  key: string;
  /** Output time of the cut. */
  atMs: number;
  /** Media cut away (ms). */
  lostMs: number;
  /** Video: frames dropped (only frames that start inside the next slice's time). */
  frames?: number;
}

/** A listed slice the output could not use: not in storage (`missing`) or not readable (`unreadable`); its time is a gap. */
export interface AbsentSlice {
  track: MediaKind;
  key: string;
  kind: 'missing' | 'unreadable';
  /** Output time where its media would have started, and its (listed or measured) length. */
  atMs: number;
  durationMs: number;
  reason: string;
}

export interface OutputPlan {
  /** Stable id: `<sid or cname>/<uid>[/<segment utc>]`. */
  id: string;
  sid: string | null;
  sids: string[];
  cname: string;
  uid: string;
  kind: 'av' | 'audio' | 'video';
  fileName: string;
  /** Wall-clock instant of output time 0. */
  originMs: number;
  durationMs: number;
  /** Wall-clock intervals removed from the output (`--gaps cut`). */
  cuts: Interval[];
  gapMode: GapMode;
  /** An audio-only output written as PCM (`wav`) or FLAC instead of AAC in .m4a. */
  audioFormat?: 'wav' | 'flac';
  /** The output is on the session's clock (`--align session`): its origin and length are the session's. */
  aligned?: true;
  /** Output-time window kept (`--from`/`--duration`); slices outside it are not read. */
  trim: { fromMs: number; durationMs: number } | null;
  video: VideoPlan | null;
  audio: AudioPlan | null;
  /** Keys of every slice the output reads. */
  inputs: string[];
  warnings: string[];
  /** Overlapping slices cut where the next starts (what overlapWarning says, as facts). */
  overlaps: SliceOverlap[];
  /** Listed slices whose time is a gap: missing from storage or unreadable. */
  absent: AbsentSlice[];
}

export interface MergePlan {
  outputs: OutputPlan[];
  /** UIDs that could not be planned, with why. */
  failures: { sid: string; cname: string; uid: string; error: string }[];
}
