// Writes the committed sample recording into fixtures/sample/ (see fixtures/README.md).
// Run: npx tsx scripts/make-sample.ts
import { rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeRecording, type FixtureRecording } from '../test/support/recording-fixture.js';

const T0 = Date.parse('2024-05-06T07:08:09.123Z');
const at = (s: number): number => T0 + s * 1000;

/** Same wall-clock instants for everyone, so cross-user sync is measurable; 1001 misses the one at 10 s. */
const MARKERS = [1, 4, 7, 10, 13, 16, 19].map(at);

const video = { width: 320, height: 180, fps: 15, sliceMs: 6000 } as const;

export const SAMPLE: FixtureRecording = {
  sid: '6b2f0d8e4c1a4e7f9a3b5c7d9e1f2a4b',
  cname: 'math_class_7',
  dir: 'directory1',
  users: [
    {
      // Leaves at 8 s and rejoins at 12 s.
      uid: '1001',
      markers: MARKERS,
      audio: [
        { startMs: at(0), durationMs: 8000, sliceMs: 5000 },
        { startMs: at(12), durationMs: 8000, sliceMs: 5000 },
      ],
      video: [
        { startMs: at(0), durationMs: 8000, ...video },
        { startMs: at(12), durationMs: 8000, ...video },
      ],
    },
    {
      // Stereo audio from 0 s; video 2 s late, from a phone held in portrait turned to landscape:
      // coded 180x320, turned 90 degrees anticlockwise, upright 320x180.
      uid: '2002',
      markers: MARKERS,
      audio: [{ startMs: at(0), durationMs: 20000, sliceMs: 5000, channels: 2 }],
      video: [{ startMs: at(2), durationMs: 18000, ...video, width: 180, height: 320, rotation: 90 }],
    },
  ],
};

async function main(): Promise<void> {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'sample');
  await rm(root, { recursive: true, force: true });
  const written = await writeRecording(root, SAMPLE);
  // A stray file the merger must ignore.
  await writeFile(path.join(root, SAMPLE.dir!, 'notes.txt'), 'Uploaded by the class assistant; not part of the recording.\n');
  const files = [...written.playlists, ...written.slices.map((s) => s.path)];
  const bytes = (await Promise.all(files.map((f) => stat(f)))).reduce((sum, s) => sum + s.size, 0);
  console.log(`${files.length} files, ${(bytes / 1024).toFixed(0)} KiB in ${root}`);
}

// Importable (tests may read SAMPLE for the expected markers) without rewriting the fixture.
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
