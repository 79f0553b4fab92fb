// Shared assertions for merged outputs: markers where they happened, audio and video together.
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'vitest';
import { beepTimes, whiteFrameTimes } from './measure.js';

/** A fixed wall-clock start for fixtures: 2024-05-06 07:08:09.123 UTC. */
export const T0 = Date.UTC(2024, 4, 6, 7, 8, 9, 123);

export const tempDir = (label: string) => mkdtemp(path.join(os.tmpdir(), `recmerge-${label}-`));

/**
 * Every expected marker (output seconds) has a white frame and a beep within one output frame of it,
 * and the two within one frame of each other; no marker appears that was not expected.
 */
export async function expectMarkers(file: string, expectedS: number[], fps: number, media: { video?: boolean; audio?: boolean } = {}): Promise<void> {
  const frame = 1 / fps + 0.002;
  const wantVideo = media.video ?? true;
  const wantAudio = media.audio ?? true;
  const whites = wantVideo ? await whiteFrameTimes(file) : [];
  const beeps = wantAudio ? await beepTimes(file) : [];
  const report = `expected ${JSON.stringify(expectedS)}, white frames ${JSON.stringify(whites)}, beeps ${JSON.stringify(beeps)}`;
  if (wantVideo) expect(whites.length, report).toBe(expectedS.length);
  if (wantAudio) expect(beeps.length, report).toBe(expectedS.length);
  expectedS.forEach((t, i) => {
    if (wantVideo) expect(Math.abs(whites[i]! - t), `white frame ${i}: ${report}`).toBeLessThanOrEqual(frame);
    if (wantAudio) expect(Math.abs(beeps[i]! - t), `beep ${i}: ${report}`).toBeLessThanOrEqual(frame);
    if (wantVideo && wantAudio) expect(Math.abs(whites[i]! - beeps[i]!), `A/V offset ${i}: ${report}`).toBeLessThanOrEqual(frame);
  });
}

/** Marker wall-clock instants -> output seconds for an output whose t=0 is `originMs`. */
export const outputSeconds = (markers: number[], originMs: number) => markers.map((m) => (m - originMs) / 1000);
