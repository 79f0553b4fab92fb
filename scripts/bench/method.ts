// What a bench method is and what it measured: shared by scripts/bench.ts and the sections it runs (bench/reencode.ts).
import type { TreeStats } from './proc-tree.js';
import type { BenchRecording } from './recordings.js';

export type MethodId = 'auto' | 'transcode' | 'transcode-fps15' | 'script' | 'naive' | 'floor';

export interface MethodSpec {
  id: MethodId;
  label: string;
  recording: BenchRecording;
  uids: string[];
  /** A wrong duration is what this method is known for: reported, not a failure. */
  expectWrongDuration?: boolean;
  /** The script's and the floor's output rate (default: the script's 15, the recording's rate for the floor). */
  fps?: number;
  /** The script's canvas per UID (default the recording's size). */
  sizes?: Record<string, { width: number; height: number }>;
}

export interface OutputCheck {
  uid: string;
  file: string | null;
  error: string | null;
  expectedS: number;
  actualS: number | null;
  ok: boolean;
  videoPath?: string | null;
  audioPath?: string | null;
}

export interface MethodResult {
  id: MethodId;
  label: string;
  recording: string;
  uids: string[];
  /** Wall time of the method inside its process (Node start-up excluded), s. */
  wallS: number;
  /** Wall time including starting the Node process, s. */
  processWallS: number;
  /** Media merged: the sum of each UID's wall-clock span, s. */
  mediaS: number;
  /** Media seconds merged per wall second (each UID's recording counted on its own). */
  timesRealtime: number;
  /** Wall seconds per hour of one UID's recording: comparable across scales. */
  wallPerUidHourS: number;
  nodePeakRssMB: number;
  treePeakRssMB: number;
  cpuS: { node: number; children: number };
  /** Speed relative to the script's method on the same recording (its s per UID-hour / ours). */
  speedVsScript: number | null;
  treeMemoryVsScript: number | null;
  checks: OutputCheck[];
  correct: boolean;
  expectWrongDuration: boolean;
  tree: TreeStats;
  phases?: { planReadyS: number | null; outputs: Array<{ uid: string; prepS: number | null; ffmpegS: number | null }> };
}
