// Property-based tests: for ANY input the parsers give a result or a clear error, never a crash or a hang,
// and what they are given in the service's format they read back exactly.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildInventory, classifyKeys } from '../src/core/inventory.js';
import { formatUtc17, parseRecordingName } from '../src/core/names.js';
import { planMerge } from '../src/core/plan.js';
import { parsePlaylist, PlaylistError } from '../src/core/playlist.js';

const NUM_RUNS = 500;
// 2000-01-01 .. 2099-12-31, whole milliseconds.
const instant = fc.integer({ min: 946684800000, max: 4102444799999 });
const sid = fc.stringMatching(/^[0-9a-f]{32}$/);
const cname = fc.stringMatching(/^[A-Za-z0-9_-]{1,40}$/).filter((c) => !c.includes('__uid_s_') && !c.startsWith('_'));
const uid = fc.stringMatching(/^[1-9][0-9]{0,9}$/);
const media = fc.constantFrom('audio' as const, 'video' as const);

describe('name parser', () => {
  it('never throws, whatever the key', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (key) => {
        const r = parseRecordingName(key);
        expect(typeof r.ok).toBe('boolean');
        if (!r.ok) expect(r.reason.length).toBeGreaterThan(0);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('reads back every slice name written by the naming rules', () => {
    fc.assert(
      fc.property(fc.option(fc.nat({ max: 9 })), sid, cname, uid, media, instant, fc.constantFrom('ts', 'webm'), fc.stringMatching(/^([a-z0-9]{1,8}\/){0,3}$/), (bak, s, c, u, m, t, ext, dir) => {
        const key = `${dir}${bak === null ? '' : `bak${bak}_`}${s}_${c}__uid_s_${u}__uid_e_${m}_${formatUtc17(t)}.${ext}`;
        const r = parseRecordingName(key);
        expect(r.ok).toBe(true);
        if (!r.ok || r.name.type !== 'slice') return;
        expect(r.name).toMatchObject({ sid: s, cname: c, uid: u, media: m, startMs: t, container: ext, backup: bak, dir });
      }),
      { numRuns: NUM_RUNS },
    );
  });
});

/** A playlist in the service's format, with tags in either order and EXTINF with or without a comma. */
const servicePlaylist = fc
  .record({
    start: instant,
    entries: fc.array(
      fc.record({
        durationMs: fc.integer({ min: 1, max: 20000 }),
        discontinuity: fc.boolean(),
        rotate: fc.option(fc.constantFrom(0, 90, 180, 270)),
        comma: fc.boolean(),
        eventFirst: fc.boolean(),
      }),
      { minLength: 1, maxLength: 30 },
    ),
  })
  .map(({ start, entries }) => {
    const lines = ['#EXTM3U', '#EXT-X-VERSION:3', '#EXT-X-MEDIA-SEQUENCE:0', '#EXT-X-TARGETDURATION:20'];
    let t = start;
    const expected = entries.map((e, i) => {
      const uri = `x_c__uid_s_1__uid_e_video_${formatUtc17(t)}.ts`;
      const tags = [];
      if (e.rotate !== null) tags.push(`#EXT-X-AGORA-ROTATE:WIDTH=640,HEIGHT=360,ROTATE=${e.rotate},TIME=${formatUtc17(t)}`);
      if (e.discontinuity) tags.push(`#EXT-X-AGORA-TRACK-EVENT:EVENT=START,TRACK_TYPE=VIDEO,TIME=${t}`);
      if (e.eventFirst) tags.reverse();
      if (e.discontinuity || i === 0) lines.push('#EXT-X-DISCONTINUITY');
      lines.push(...tags, `#EXTINF:${(e.durationMs / 1000).toFixed(6)}${e.comma ? ',' : ''}`, uri);
      t += e.durationMs;
      return { uri, durationSec: e.durationMs / 1000, discontinuity: e.discontinuity || i === 0, rotation: e.rotate };
    });
    lines.push('#EXT-X-ENDLIST');
    return { text: lines.join('\n') + '\n', expected };
  });

describe('playlist parser', () => {
  it('gives entries or a PlaylistError for any text, never anything else', () => {
    const anyText = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 2000 }),
      // Mostly-valid playlists with random lines mixed in reach deeper than pure noise.
      fc.array(fc.oneof(fc.constantFrom('#EXTINF:', '#EXTINF:-3', '#EXTINF:1e309', '#EXT-X-DISCONTINUITY', '#EXT-X-AGORA-ROTATE:WIDTH=', '#EXT-X-ENDLIST', 'a.ts', ''), fc.string({ maxLength: 40 })), { maxLength: 60 }).map((ls) => ['#EXTM3U', ...ls].join('\n')),
    );
    fc.assert(
      fc.property(anyText, (text) => {
        try {
          const r = parsePlaylist(text);
          for (const e of r.entries) {
            expect(e.uri.length).toBeGreaterThan(0);
            if (e.durationSec === null) expect(e.durationError).toBeTruthy();
            else expect(Number.isFinite(e.durationSec) && e.durationSec > 0).toBe(true);
          }
        } catch (error) {
          expect(error).toBeInstanceOf(PlaylistError);
        }
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('reads back every playlist written in the service format', () => {
    fc.assert(
      fc.property(servicePlaylist, ({ text, expected }) => {
        const r = parsePlaylist(text);
        expect(r.endList).toBe(true);
        expect(r.entries.map((e) => e.uri)).toEqual(expected.map((e) => e.uri));
        r.entries.forEach((e, i) => {
          expect(e.durationSec).toBeCloseTo(expected[i]!.durationSec, 6);
          expect(e.discontinuity).toBe(expected[i]!.discontinuity);
          expect(e.rotates.at(-1)?.rotation ?? null).toBe(expected[i]!.rotation);
        });
      }),
      { numRuns: NUM_RUNS },
    );
  });
});

describe('inventory and plan', () => {
  it('never throw on any mix of keys and playlist texts, and place every planned slice inside its output', () => {
    const key = fc.oneof(
      fc.tuple(media, instant, fc.constantFrom('ts', 'webm')).map(([m, t, ext]) => `s_c__uid_s_1__uid_e_${m}_${formatUtc17(t)}.${ext}`),
      media.map((m) => `s_c__uid_s_1__uid_e_${m}.m3u8`),
      fc.string({ maxLength: 30 }),
    );
    fc.assert(
      fc.property(fc.uniqueArray(key, { maxLength: 20 }), servicePlaylist, (keys, playlist) => {
        const classified = classifyKeys(keys);
        const texts = new Map(classified.playlists.map((p) => [p.key, playlist.text.replaceAll('x_c__', 's_c__')]));
        const inventory = buildInventory(classified, texts);
        const plan = planMerge(inventory, new Map());
        for (const o of plan.outputs) {
          const placed = [...(o.video?.runs ?? []), ...(o.audio?.runs ?? [])].flatMap((r) => r.slices);
          for (const p of placed) {
            expect(p.offsetMs).toBeGreaterThanOrEqual(0);
            expect(p.offsetMs).toBeLessThan(o.durationMs);
            expect(p.slotMs).toBeGreaterThan(0);
          }
        }
      }),
      { numRuns: 200 },
    );
  });
});
