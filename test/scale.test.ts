// Nothing spread into arguments, nothing quadratic, where the number of packets or slices is the
// recording's to choose (issue 21.7): 200,000 PES units in one TS slice, 200,000 blocks of one WebM
// track, an `inspect --html` page over 200,000 slices that each follow a restart. Before,
// `Math.max(...units)` / `Math.min(...pts)` / `Math.min(...slices)` overflowed the stack ("Maximum call
// stack size exceeded"), failing the user's merge, a whole dry run or the page. The TS slice here is
// built packet by packet (an encoder would take minutes for 200,000 frames): only its counts matter.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildInventory, classifyKeys } from '../src/core/inventory.js';
import { formatUtc17 } from '../src/core/names.js';
import { measureSlice } from '../src/media/slice-media.js';
import { extent, videoOfTs, webmTiming } from '../src/media/slice-read.js';
import type { TsStream } from '../src/media/ts-scan.js';
import { timelineHtml } from '../src/report/timeline-html.js';
import { T0, tempDir } from './support/sync.js';

const N = 200_000;

/** PTS/DTS field (5 bytes, 90 kHz) with its 4-bit prefix. */
function timestamp(prefix: number, t: number): Buffer {
  const b = Buffer.alloc(5);
  b[0] = (prefix << 4) | (Math.floor(t / 2 ** 30) << 1) | 1;
  const low = t % 2 ** 30;
  b.writeUInt16BE(((low >>> 15) << 1) | 1, 1);
  b.writeUInt16BE(((low & 0x7fff) << 1) | 1, 3);
  return b;
}

/** A TS packet of `pid` whose payload is `payload` (padded with an adaptation field). */
function packet(pid: number, pusi: boolean, payload: Buffer, counter: number): Buffer {
  const head = Buffer.from([0x47, (pusi ? 0x40 : 0) | (pid >> 8), pid & 0xff, 0x10 | (counter & 0x0f)]);
  const room = 184 - payload.length;
  if (room === 0) return Buffer.concat([head, payload]);
  head[3] = 0x30 | (counter & 0x0f);
  const adaptation = room === 1 ? Buffer.from([0]) : Buffer.concat([Buffer.from([room - 1, 0]), Buffer.alloc(room - 2, 0xff)]);
  return Buffer.concat([head, adaptation, payload]);
}

/** PAT + PMT (one H.264 stream on PID 0x100), CRCs left zero: the scanner does not check them. */
function tables(): Buffer[] {
  const pat = Buffer.from([0, 0x00, 0xb0, 13, 0, 1, 0xc1, 0, 0, 0, 1, 0xf0, 0x00, 0, 0, 0, 0]);
  const pmt = Buffer.from([0, 0x02, 0xb0, 18, 0, 1, 0xc1, 0, 0, 0xe1, 0x00, 0xf0, 0, 0x1b, 0xe1, 0x00, 0xf0, 0, 0, 0, 0, 0]);
  return [packet(0, true, pat, 0), packet(0x1000, true, pmt, 0)];
}

/** One video access unit: a PES with PTS and DTS (B-frame order: presentation 2 frames behind) and one NAL unit. */
function videoUnit(i: number, frameTicks: number): Buffer {
  const dts = 900_000 + i * frameTicks;
  const pts = dts + 2 * frameTicks;
  const nal = Buffer.from([0, 0, 0, 1, i === 0 ? 0x65 : 0x41, 0x88]);
  const header = Buffer.concat([Buffer.from([0, 0, 1, 0xe0, 0, 0, 0x80, 0xc0, 10]), timestamp(3, pts), timestamp(1, dts)]);
  return packet(0x100, true, Buffer.concat([header, nal]), i);
}

describe(`${N.toLocaleString('en')} elements`, () => {
  it('extent: min and max of a long list', () => {
    const xs = Array.from({ length: N }, (_, i) => (i * 7919) % N);
    expect(extent(xs)).toEqual({ min: 0, max: N - 1 });
  });

  it('videoOfTs: the reordering of a stream of that many access units', () => {
    const stream: TsStream = { pid: 0x100, streamType: 0x1b, kind: 'video', codec: 'h264', units: [] };
    for (let i = 0; i < N; i++) stream.units.push({ pts: (i + 2) / 30, dts: i / 30, key: i % 30 === 0, offset: i * 188 });
    const timing = videoOfTs(stream)!;
    expect(timing.reorderMs).toBeCloseTo(2000 / 30, 6);
    expect(timing.frameOffsetsMs).toHaveLength(N);
  });

  it('webmTiming: the start of an audio track of that many blocks (2.5 ms Opus frames, 500 s)', () => {
    const pts = Array.from({ length: N }, (_, i) => 7 + i * 0.0025);
    const m = webmTiming({ hasVideo: false, hasAudio: true, startS: 0, lengthMs: 0 }, 'audio', pts, [], 0.0025);
    expect(m.startS).toBe(7);
    expect(m.lengthMs).toBeCloseTo(N * 2.5, 3);
  });

  it('measureSlice: a TS video slice of that many PES units (in a reader thread, streamed)', async () => {
    const file = path.join(await tempDir('scale-ts'), 'many.ts');
    const units = Array.from({ length: N }, (_, i) => videoUnit(i, 3000));
    await writeFile(file, Buffer.concat([...tables(), ...units]));
    const m = await measureSlice(file, 'ts', 'video');
    expect(m.frameOffsetsMs).toHaveLength(N);
    expect(m.reorderMs).toBeCloseTo((2 * 3000) / 90, 6);
    expect(m.startsOnKey).toBe(true);
    expect(m.lengthMs).toBeCloseTo((N * 3000) / 90, 3);
  });

  it('timelineHtml: a page over that many slices (two users, 100,000 a track), each after a restart', () => {
    const keys: string[] = [];
    const texts = new Map<string, string>();
    const sid = 'd'.repeat(32);
    const perTrack = N / 2;
    for (const uid of ['7', '8']) {
      for (const media of ['audio', 'video'] as const) {
        const base = `${sid}_room__uid_s_${uid}__uid_e_${media}`;
        const lines = ['#EXTM3U', '#EXT-X-VERSION:3', '#EXT-X-TARGETDURATION:2'];
        for (let i = 0; i < perTrack; i++) {
          const start = T0 + i * 1000;
          const name = `${base}_${formatUtc17(start)}.ts`;
          lines.push('#EXT-X-DISCONTINUITY');
          if (i % 10 === 0) lines.push(`#EXT-X-AGORA-TRACK-EVENT:EVENT=START,TRACK_TYPE=${media.toUpperCase()},TIME=${formatUtc17(start)}`);
          lines.push('#EXTINF:1.000', name);
          keys.push(name);
        }
        lines.push('#EXT-X-ENDLIST', '');
        keys.push(`${base}.m3u8`);
        texts.set(`${base}.m3u8`, lines.join('\n'));
      }
    }
    const inventory = buildInventory(classifyKeys(keys), texts);
    expect(inventory.sessions[0]!.uids.map((u) => u.failed)).toEqual([null, null]);
    const html = timelineHtml(inventory);
    // One bar a lane (the slices touch), its count and range right; a restart marker at every slice but the first.
    const bars = html.match(/class="bar (audio|video)" data-start="\d+" data-end="\d+"[^>]*slices\)/g) ?? [];
    expect(bars).toHaveLength(4);
    for (const bar of bars) expect(bar).toMatch(new RegExp(`data-start="${T0}" data-end="${T0 + perTrack * 1000}".*, ${perTrack} slices\\)`));
    expect(html.match(/class="marker restart"/g)).toHaveLength(4 * (perTrack - 1));
  });
});
