// Key names + playlist texts -> inventory, with in-memory storage listings.
import { describe, expect, it } from 'vitest';
import { buildInventory, classifyKeys, markMissing, mergeByUtc, type PlaylistText } from '../src/core/inventory.js';
import { formatUtc17 } from '../src/core/names.js';
import type { Inventory, Slice, UidRecording } from '../src/core/types.js';

const SID = 'aaaa0000bbbb1111cccc2222dddd3333';
const SID2 = 'eeee4444ffff5555aaaa6666bbbb7777';
const CNAME = 'lesson_42';
const T0 = Date.UTC(2024, 0, 2, 3, 4, 5, 0);

interface Name {
  sid?: string;
  uid?: string;
  media?: 'audio' | 'video';
  bak?: number;
  dir?: string;
}
const base = ({ sid = SID, uid = '1', media = 'audio', bak }: Name) => `${bak !== undefined ? `bak${bak}_` : ''}${sid}_${CNAME}__uid_s_${uid}__uid_e_${media}`;
const pl = (n: Name = {}, copy = '') => `${n.dir ?? ''}${base(n)}${copy}.m3u8`;
const sl = (n: Name, atMs: number, ext = 'ts') => `${n.dir ?? ''}${base(n)}_${formatUtc17(T0 + atMs)}.${ext}`;
const file = (key: string) => key.slice(key.lastIndexOf('/') + 1);

type Entry = { key: string; dur?: string; tags?: string[] };
const m3u8 = (entries: Entry[], endList = true) =>
  ['#EXTM3U', '#EXT-X-VERSION:3', '#EXT-X-TARGETDURATION:18', ...entries.flatMap((e) => [...(e.tags ?? []), `#EXTINF:${e.dur ?? '5.000'}`, file(e.key)]), ...(endList ? ['#EXT-X-ENDLIST'] : [])].join('\n');

/** A storage listing + playlist texts, in memory. */
function inventoryOf(keys: string[], texts: Record<string, PlaylistText>, durations?: Map<string, number>): Inventory {
  return buildInventory(classifyKeys(keys), new Map(Object.entries(texts)), durations);
}
const uidOf = (inv: Inventory, uid: string, sid = SID): UidRecording => {
  const rec = inv.sessions.find((s) => s.sid === sid)?.uids.find((u) => u.uid === uid);
  if (!rec) throw new Error(`no uid ${uid} in ${sid}`);
  return rec;
};
const starts = (slices: Slice[] | undefined) => (slices ?? []).map((s) => s.startMs - T0);

describe('classifyKeys', () => {
  it('sorts keys into playlists, slices and ignored with a reason', () => {
    const a = { media: 'audio' as const };
    const av = `${SID}_${CNAME}__uid_s_1__uid_e_av.m3u8`;
    const opus = `${SID}_${CNAME}__uid_s_1__uid_e_opus.m3u8`;
    const c = classifyKeys([pl(a), sl(a, 0), 'convert.log', av, opus, pl(a, '_123_1'), `dir/${sl(a, 5000, 'webm')}`]);
    expect(c.playlists.map((p) => p.key)).toEqual([pl(a), pl(a, '_123_1')]);
    expect(c.slices.map((s) => s.key)).toEqual([sl(a, 0), `dir/${sl(a, 5000, 'webm')}`]);
    expect(c.indexes.map((s) => s.key)).toEqual([av]);
    expect(c.ignored).toEqual([
      { key: 'convert.log', reason: expect.stringMatching(/not a recording file/) },
      { key: opus, reason: expect.stringMatching(/not audio, video, av or a raw-mode name/) },
    ]);
  });
});

describe('buildInventory: grouping', () => {
  it('groups by session -> uid -> track and places slices at their UTC with their EXTINF', () => {
    const a1 = { uid: '1', media: 'audio' as const };
    const v1 = { uid: '1', media: 'video' as const };
    const a2 = { uid: '22', media: 'audio' as const };
    const a3 = { sid: SID2, uid: '1', media: 'audio' as const };
    const keys = [pl(a1), sl(a1, 0), sl(a1, 15000), pl(v1), sl(v1, 1000), pl(a2), sl(a2, 3000), pl(a3), sl(a3, 60000), 'junk.txt'];
    const inv = inventoryOf(keys, {
      [pl(a1)]: m3u8([{ key: sl(a1, 0), dur: '15.0' }, { key: sl(a1, 15000), dur: '4.5' }]),
      [pl(v1)]: m3u8([{ key: sl(v1, 1000), dur: '6.332000' }]),
      [pl(a2)]: m3u8([{ key: sl(a2, 3000) }]),
      [pl(a3)]: m3u8([{ key: sl(a3, 60000) }]),
    });
    expect(inv.sessions.map((s) => [s.sid, s.cname, s.uids.map((u) => u.uid)])).toEqual([
      [SID, CNAME, ['1', '22']],
      [SID2, CNAME, ['1']],
    ]);
    const u1 = uidOf(inv, '1');
    expect(u1.failed).toBeNull();
    expect(u1.audio?.playlistKey).toBe(pl(a1));
    expect(u1.audio?.slices.map((s) => [s.startMs - T0, s.durationMs, s.present, s.backup])).toEqual([
      [0, 15000, true, false],
      [15000, 4500, true, false],
    ]);
    expect(u1.video?.slices.map((s) => [s.startMs - T0, s.durationMs])).toEqual([[1000, 6332]]);
    expect(uidOf(inv, '22').video).toBeNull();
    expect(starts(uidOf(inv, '1', SID2).audio?.slices)).toEqual([60000]);
    expect(inv.ignored.map((i) => i.key)).toEqual(['junk.txt']);
    expect(inv.problems).toEqual([]);
  });

  it('sorts uids numerically within a session', () => {
    const names = ['10', '9', '100'].map((uid) => ({ uid, media: 'audio' as const }));
    const keys = names.flatMap((n) => [pl(n), sl(n, 0)]);
    const inv = inventoryOf(keys, Object.fromEntries(names.map((n) => [pl(n), m3u8([{ key: sl(n, 0) }])])));
    expect(inv.sessions[0]!.uids.map((u) => u.uid)).toEqual(['9', '10', '100']);
  });

  it('resolves slice names relative to the playlist directory', () => {
    const a = { media: 'audio' as const, dir: 'dir1/dir2/' };
    const inv = inventoryOf([pl(a), sl(a, 0)], { [pl(a)]: m3u8([{ key: sl(a, 0) }]) });
    expect(inv.sessions[0]!.dir).toBe('dir1/dir2/');
    expect(uidOf(inv, '1').audio?.slices[0]).toMatchObject({ key: sl(a, 0), present: true });
  });
});

describe('buildInventory: playlist copies and backup recorders', () => {
  const a = { media: 'audio' as const };
  const all = [0, 5000, 10000].map((t) => sl(a, t));

  it.each([
    ['the plain playlist is fuller', [all, all.slice(0, 2)], pl(a)],
    ['the copy is fuller', [all.slice(0, 1), all], pl(a, '_22194679897_3')],
    ['same entries: the plain one wins', [all, all], pl(a)],
  ])('%s', (_what, [plain, copy], chosen) => {
    const keys = [pl(a), pl(a, '_22194679897_3'), ...all];
    const inv = inventoryOf(keys, {
      [pl(a)]: m3u8(plain!.map((key) => ({ key }))),
      [pl(a, '_22194679897_3')]: m3u8(copy!.map((key) => ({ key }))),
    });
    const track = uidOf(inv, '1').audio!;
    expect(track.playlistKey).toBe(chosen);
    expect(track.otherPlaylists).toEqual([chosen === pl(a) ? pl(a, '_22194679897_3') : pl(a)]);
    expect(track.slices).toHaveLength(Math.max(plain!.length, copy!.length));
  });

  it('with equal entry counts, the longer text (more content) wins', () => {
    const keys = [pl(a), pl(a, '_1_1'), ...all];
    const inv = inventoryOf(keys, {
      [pl(a)]: m3u8([{ key: all[0]! }], false),
      [pl(a, '_1_1')]: m3u8([{ key: all[0]! }], true),
    });
    expect(uidOf(inv, '1').audio!.playlistKey).toBe(pl(a, '_1_1'));
  });

  it('merges bak0_ slices by UTC, each instant once, main recorder preferred', () => {
    const b = { media: 'audio' as const, bak: 0 };
    // main: 0, 5000, (missing 10000), 15000 ; backup: 5040 (same as 5000), 10000, 20000
    const keys = [pl(a), pl(b), sl(a, 0), sl(a, 5000), sl(a, 15000), sl(b, 5040), sl(b, 10000), sl(b, 20000)];
    const inv = inventoryOf(keys, {
      [pl(a)]: m3u8([0, 5000, 15000].map((t) => ({ key: sl(a, t) }))),
      [pl(b)]: m3u8([5040, 10000, 20000].map((t) => ({ key: sl(b, t) }))),
    });
    const track = uidOf(inv, '1').audio!;
    expect(track.playlistKey).toBe(pl(a));
    expect(track.otherPlaylists).toEqual([pl(b)]);
    expect(track.slices.map((s) => [s.startMs - T0, s.backup])).toEqual([
      [0, false],
      [5000, false],
      [10000, true],
      [15000, false],
      [20000, true],
    ]);
  });

  it('a duplicate that only the backup uploaded comes from the backup', () => {
    const b = { media: 'audio' as const, bak: 0 };
    const keys = [pl(a), pl(b), sl(b, 0)]; // main's slice never reached storage
    const inv = inventoryOf(keys, { [pl(a)]: m3u8([{ key: sl(a, 0) }]), [pl(b)]: m3u8([{ key: sl(b, 0) }]) });
    const rec = uidOf(inv, '1');
    expect(rec.audio!.slices).toEqual([expect.objectContaining({ key: sl(b, 0), present: true, backup: true })]);
    expect(rec.problems.filter((p) => p.severity === 'error')).toEqual([]);
  });

  it('a backup slice dropped as a duplicate is not reported as unlisted', () => {
    const b = { media: 'audio' as const, bak: 0 };
    const keys = [pl(a), pl(b), sl(a, 0), sl(b, 0)];
    const inv = inventoryOf(keys, { [pl(a)]: m3u8([{ key: sl(a, 0) }]), [pl(b)]: m3u8([{ key: sl(b, 0) }]) });
    expect(inv.problems).toEqual([]);
  });
});

describe('mergeByUtc', () => {
  const s = (at: number, backup: boolean, present = true): Slice => ({
    key: `${at}-${backup}-${present}`,
    container: 'ts',
    startMs: at,
    durationMs: 5000,
    discontinuity: false,
    rotation: 0,
    codedSize: null,
    backup,
    present,
  });
  it.each([
    ['main and backup at the same instant: main', [[s(0, false)], [s(0, true)]], ['0-false-true']],
    ['backup listed first: still main', [[s(0, true)], [s(0, false)]], ['0-false-true']],
    ['within 100 ms: one slice', [[s(0, false)], [s(100, true)]], ['0-false-true']],
    ['101 ms apart: two slices', [[s(0, false)], [s(101, true)]], ['0-false-true', '101-true-true']],
    ['main absent, backup present: backup', [[s(0, false, false)], [s(0, true)]], ['0-true-true']],
    ['both absent: main', [[s(0, false, false)], [s(0, true, false)]], ['0-false-false']],
    ['out of order input is sorted', [[s(10000, false), s(0, false)], [s(5000, true)]], ['0-false-true', '5000-true-true', '10000-false-true']],
    // One recorder's slices are never twins: a forced cut a frame before the next cut leaves a 67 ms slice.
    ['one list, 77 ms apart: both', [[s(4146, false), s(4223, false)]], ['4146-false-true', '4223-false-true']],
    ['main 77 ms apart and their backups: each once', [[s(4146, false), s(4223, false)], [s(4150, true), s(4226, true)]], ['4146-false-true', '4223-false-true']],
    ['one list, main and backup within 100 ms: one slice', [[s(0, false), s(40, true)]], ['0-false-true']],
    ['main absent, backup present, a close main after: backup then main', [[s(0, false, false), s(70, false)], [s(5, true)]], ['5-true-true', '70-false-true']],
  ])('%s', (_what, lists, keys) => {
    expect(mergeByUtc(lists).map((x) => x.key)).toEqual(keys);
  });
});

describe('buildInventory: missing, extra and broken', () => {
  const a = { uid: '1', media: 'audio' as const };
  const v = { uid: '1', media: 'video' as const };
  const a2 = { uid: '2', media: 'audio' as const };

  it('a slice listed but not in storage: present=false and an error naming it', () => {
    const inv = inventoryOf([pl(a), sl(a, 0)], { [pl(a)]: m3u8([{ key: sl(a, 0) }, { key: sl(a, 5000) }]) });
    const rec = uidOf(inv, '1');
    expect(rec.audio!.slices.map((s) => s.present)).toEqual([true, false]);
    expect(rec.problems).toEqual([expect.objectContaining({ severity: 'error', key: sl(a, 5000), message: expect.stringMatching(/not in storage/) })]);
    expect(rec.failed).toBeNull();
  });

  it('a slice in storage but in no playlist: a warning, not used', () => {
    const inv = inventoryOf([pl(a), sl(a, 0), sl(a, 5000)], { [pl(a)]: m3u8([{ key: sl(a, 0) }]) });
    expect(starts(uidOf(inv, '1').audio?.slices)).toEqual([0]);
    expect(inv.problems).toEqual([{ severity: 'warning', key: sl(a, 5000), message: expect.stringMatching(/not listed/) }]);
  });

  it('an entry with a bad duration is left out with an error; its neighbours stay', () => {
    const inv = inventoryOf([pl(a), sl(a, 0), sl(a, 5000), sl(a, 10000)], {
      [pl(a)]: m3u8([{ key: sl(a, 0) }, { key: sl(a, 5000), dur: '-1' }, { key: sl(a, 10000) }]),
    });
    const rec = uidOf(inv, '1');
    expect(starts(rec.audio?.slices)).toEqual([0, 10000]);
    expect(rec.problems).toEqual([expect.objectContaining({ severity: 'error', key: sl(a, 5000), message: expect.stringMatching(/not positive/) })]);
  });

  it('an entry with a bad duration is not also reported as unlisted', () => {
    const inv = inventoryOf([pl(a), sl(a, 0), sl(a, 5000)], { [pl(a)]: m3u8([{ key: sl(a, 0) }, { key: sl(a, 5000), dur: '-1' }]) });
    expect(inv.problems).toEqual([]);
  });

  it.each<[string, number[], RegExp, number[]]>([
    ['a slice listed twice is used once', [0, 5000, 5000], /listed twice/, [0, 5000]],
    ['UTC going backwards: placed by its own UTC', [0, 10000, 5000], /UTC goes backwards/, [0, 5000, 10000]],
    ['a slice starting 1 s before the previous ends', [0, 4000], /starts 1000 ms before the previous slice ends/, [0, 4000]],
  ])('%s, with a warning', (_what, order, warning, placed) => {
    const at = [...new Set(order)];
    const inv = inventoryOf([pl(a), ...at.map((t) => sl(a, t))], { [pl(a)]: m3u8(order.map((t) => ({ key: sl(a, t) }))) });
    const rec = uidOf(inv, '1');
    expect(starts(rec.audio?.slices)).toEqual(placed);
    expect(rec.problems).toEqual([expect.objectContaining({ severity: 'warning', message: expect.stringMatching(warning) })]);
  });

  it.each([
    ['another uid', (k: string) => k.replace('__uid_s_1__', '__uid_s_2__'), /belongs to uid 2 audio/],
    ['the other track', (k: string) => k.replace('_e_audio_', '_e_video_'), /belongs to uid 1 video/],
    ['a playlist', () => pl(a), /not a slice name \(a playlist\)/],
    ['junk', () => 'hello.ts', /not a slice name/],
  ])('an entry naming %s is left out with an error', (_what, rename, message) => {
    const inv = inventoryOf([pl(a), sl(a, 0)], { [pl(a)]: m3u8([{ key: sl(a, 0) }, { key: rename(sl(a, 5000)) }]) });
    const rec = uidOf(inv, '1');
    expect(starts(rec.audio?.slices)).toEqual([0]);
    expect(rec.problems).toEqual([expect.objectContaining({ severity: 'error', key: pl(a), message: expect.stringMatching(message) })]);
  });

  it.each([
    ['garbage', 'this is not a playlist', /not an M3U8 playlist/],
    ['not UTF-8', '#EXTM3U\n\uFFFD\n', /not UTF-8/],
    ['a read error', new Error('EACCES: permission denied'), /EACCES/],
  ])('a %s playlist fails only its UID, the other UID is fine', (_what, text, message) => {
    const keys = [pl(a), sl(a, 0), pl(v), sl(v, 0), pl(a2), sl(a2, 0)];
    const inv = inventoryOf(keys, { [pl(a)]: text, [pl(v)]: m3u8([{ key: sl(v, 0) }]), [pl(a2)]: m3u8([{ key: sl(a2, 0) }]) });
    const bad = uidOf(inv, '1');
    expect(bad.failed).toMatch(/uid 1: audio playlist cannot be used/);
    expect(bad.failed).toMatch(message);
    expect(bad.failed).toContain(pl(a));
    const good = uidOf(inv, '2');
    expect(good.failed).toBeNull();
    expect(starts(good.audio?.slices)).toEqual([0]);
  });

  it("a failed UID's slices are not also reported as unlisted", () => {
    const inv = inventoryOf([pl(a), sl(a, 0), pl(v), sl(v, 0)], { [pl(a)]: 'garbage', [pl(v)]: m3u8([{ key: sl(v, 0) }]) });
    expect(uidOf(inv, '1').failed).not.toBeNull();
    expect(inv.problems).toEqual([]);
  });

  it('a broken copy does not fail the UID when another copy parses (warning instead)', () => {
    const inv = inventoryOf([pl(a), pl(a, '_1_2'), sl(a, 0)], { [pl(a)]: new Error('short read'), [pl(a, '_1_2')]: m3u8([{ key: sl(a, 0) }]) });
    const rec = uidOf(inv, '1');
    expect(rec.failed).toBeNull();
    expect(rec.audio!.playlistKey).toBe(pl(a, '_1_2'));
    expect(rec.problems).toEqual([expect.objectContaining({ severity: 'warning', message: expect.stringMatching(/short read.*another copy was used/) })]);
  });

  it('slices without any playlist are placed by their names; those whose length is unknown are listed to be measured', () => {
    const keys = [sl(a, 0), sl(a, 5000), sl(a, 30000)];
    const first = inventoryOf(keys, {});
    // 0 lasts up to the close next slice; 5000 (next is 25 s away) and 30000 (last) need a measured length
    expect(uidOf(first, '1').audio?.slices.map((s) => [s.startMs - T0, s.durationMs])).toEqual([[0, 5000]]);
    expect(first.unmeasured).toEqual([sl(a, 5000), sl(a, 30000)]);
    expect(first.problems).toEqual([]);
    const second = inventoryOf(keys, {}, new Map([[sl(a, 5000), 4000], [sl(a, 30000), 3000]]));
    const rec = uidOf(second, '1');
    expect(rec.audio?.slices.map((s) => [s.startMs - T0, s.durationMs, s.present])).toEqual([
      [0, 5000, true],
      [5000, 4000, true],
      [30000, 3000, true],
    ]);
    expect(second.unmeasured).toEqual([]);
    expect(rec.problems).toEqual([expect.objectContaining({ severity: 'warning', message: expect.stringMatching(/3 audio slice\(s\) not in any playlist were placed by the UTC/) })]);
  });

  it('orphans from main and backup recorders: guessed lengths reach the next distinct slice', () => {
    const b = { media: 'audio' as const, bak: 0 };
    const keys = [sl(a, 0), sl(b, 40), sl(a, 5000), sl(b, 5040), sl(a, 10000), sl(b, 10040)];
    const inv = inventoryOf(keys, {});
    const slices = uidOf(inv, '1').audio!.slices;
    expect(slices.map((s) => [s.startMs - T0, s.durationMs])).toEqual([
      [0, 5000],
      [5000, 5000],
    ]);
  });

  it('a lone slice without playlist or measured length leaves the UID without a track until it is measured', () => {
    const inv = inventoryOf([sl(a, 0)], {});
    expect(inv.unmeasured).toEqual([sl(a, 0)]);
    expect(uidOf(inv, '1').failed).toMatch(/no usable audio or video track/);
  });

  it('a playlist without ENDLIST: slices it did not list are added by their names', () => {
    const inv = inventoryOf([pl(a), sl(a, 0), sl(a, 5000), sl(a, 10000)], { [pl(a)]: m3u8([{ key: sl(a, 0) }], false) }, new Map([[sl(a, 10000), 2000]]));
    expect(uidOf(inv, '1').audio?.slices.map((s) => [s.startMs - T0, s.durationMs])).toEqual([
      [0, 5000],
      [5000, 5000],
      [10000, 2000],
    ]);
    expect(inv.problems).toEqual([]);
  });

  it('a playlist without ENDLIST is used, with a warning', () => {
    const inv = inventoryOf([pl(a), sl(a, 0)], { [pl(a)]: m3u8([{ key: sl(a, 0) }], false) });
    const rec = uidOf(inv, '1');
    expect(starts(rec.audio?.slices)).toEqual([0]);
    expect(rec.problems).toEqual([expect.objectContaining({ severity: 'warning', key: pl(a), message: expect.stringMatching(/no #EXT-X-ENDLIST/) })]);
  });

  it('an empty playlist leaves the track out; with no other track the UID fails', () => {
    const inv = inventoryOf([pl(a)], { [pl(a)]: '#EXTM3U\n#EXT-X-ENDLIST\n' });
    expect(uidOf(inv, '1').failed).toMatch(/no usable audio or video track/);
  });
});

describe('buildInventory: rotation state', () => {
  const v = { media: 'video' as const };
  const rot = (w: number, h: number, r: number, atMs = 0) => `#EXT-X-AGORA-ROTATE:WIDTH=${w},HEIGHT=${h},ROTATE=${r},TIME=${formatUtc17(T0 + atMs)}`;

  it('is carried forward from the last ROTATE tag until the next one', () => {
    const at = [0, 5000, 10000, 15000, 20000];
    const inv = inventoryOf([pl(v), ...at.map((t) => sl(v, t))], {
      [pl(v)]: m3u8([
        { key: sl(v, 0) },
        { key: sl(v, 5000), tags: [rot(640, 480, 0, 5000), rot(640, 480, 90, 5000)] },
        { key: sl(v, 10000) },
        { key: sl(v, 15000), tags: ['#EXT-X-DISCONTINUITY', rot(480, 640, 270, 15000)] },
        { key: sl(v, 20000) },
      ]),
    });
    const slices = uidOf(inv, '1').video!.slices;
    expect(slices.map((s) => [s.rotation, s.codedSize && `${s.codedSize.width}x${s.codedSize.height}`, s.discontinuity, s.turns ?? null])).toEqual([
      [0, null, false, null],
      [90, '640x480', false, null],
      [90, '640x480', false, null],
      [270, '480x640', true, null],
      [270, '480x640', false, null],
    ]);
  });

  // Issue 17.4: the docs put the tag before the first slice AFTER the turn, its TIME inside the previous
  // slice; recorder-like output has also put it before the slice its TIME lies in. Either way the picture
  // turns at TIME. Slices [0, 5 s), [5, 10 s), [10, 15 s); TIME given as 17-digit UTC or 13-digit epoch ms.
  const utc = (ms: number) => formatUtc17(T0 + ms);
  const epoch = (ms: number) => String(T0 + ms);
  const tag = (r: number, time: string | null) => `#EXT-X-AGORA-ROTATE:WIDTH=640,HEIGHT=480,ROTATE=${r}${time === null ? '' : `,TIME=${time}`}`;
  type Row = [string, { before: number | 'end'; tags: string[] }[], [number, [number, number][]][], RegExp | null];
  const rows: Row[] = [
    ['after the turn (the docs): TIME inside the previous slice', [{ before: 1, tags: [tag(90, utc(3000))] }], [[0, [[3000, 90]]], [90, []], [90, []]], null],
    ['after the turn, TIME as 13-digit epoch ms', [{ before: 1, tags: [tag(90, epoch(3000))] }], [[0, [[3000, 90]]], [90, []], [90, []]], null],
    ['before the slice TIME lies in (recorder-like output)', [{ before: 0, tags: [tag(90, utc(3000))] }], [[0, [[3000, 90]]], [90, []], [90, []]], null],
    ['several tags on one slice, TIMEs inside the previous one', [{ before: 1, tags: [tag(90, utc(2000)), tag(180, epoch(4000))] }], [[0, [[2000, 90], [4000, 180]]], [180, []], [180, []]], null],
    ['several tags on one slice, one TIME before it and one inside it', [{ before: 1, tags: [tag(90, utc(4000)), tag(180, utc(7000))] }], [[0, [[4000, 90]]], [90, [[7000, 180]]], [180, []]], null],
    ['a turn in the last slice: the tag after it, before #EXT-X-ENDLIST', [{ before: 'end', tags: [tag(270, utc(12000))] }], [[0, []], [0, []], [0, [[12000, 270]]]], null],
    ['TIME at a slice start (name jitter, 30 ms early) turns it from its start', [{ before: 1, tags: [tag(90, utc(4970))] }], [[0, []], [90, []], [90, []]], null],
    ['TIME 30 ms after a slice start turns it from its start', [{ before: 1, tags: [tag(90, utc(5030))] }], [[0, []], [90, []], [90, []]], null],
    ['no TIME: from the start of the slice it stands before', [{ before: 2, tags: [tag(180, null)] }], [[0, []], [0, []], [180, []]], null],
    ['TIME before the slice the tag follows: applied from that slice\'s start, said', [{ before: 2, tags: [tag(90, utc(1000))] }], [[0, []], [90, []], [90, []]], /TIME .* lies outside the slices around the tag; applied from/],
    ['TIME after the slice the tag stands before: applied from its start, said', [{ before: 1, tags: [tag(90, utc(12000))] }], [[0, []], [90, []], [90, []]], /lies outside the slices around the tag/],
    ['TIMEs going backwards: the later tag is taken at the earlier instant', [{ before: 1, tags: [tag(90, utc(4000)), tag(180, utc(3000))] }], [[0, [[4000, 180]]], [180, []], [180, []]], null],
    ['a tag repeating the rotation in force turns nothing', [{ before: 0, tags: [tag(90, utc(0))] }, { before: 1, tags: [tag(90, utc(3000))] }], [[90, []], [90, []], [90, []]], null],
  ];
  it.each(rows)('%s', (_what, placed, want, warning) => {
    const keys = [0, 5000, 10000].map((t) => sl(v, t));
    const entries: Entry[] = keys.map((key, i) => ({ key, tags: placed.filter((p) => p.before === i).flatMap((p) => p.tags) }));
    const trailing = placed.filter((p) => p.before === 'end').flatMap((p) => p.tags);
    const text = m3u8(entries).replace('#EXT-X-ENDLIST', [...trailing, '#EXT-X-ENDLIST'].join('\n'));
    const rec = uidOf(inventoryOf([pl(v), ...keys], { [pl(v)]: text }), '1');
    const got = rec.video!.slices.map((s) => [s.rotation, (s.turns ?? []).map((t) => [t.atMs - T0, t.rotation])]);
    expect(got).toEqual(want);
    const said = rec.problems.map((p) => p.message).join('\n');
    if (warning) expect(said).toMatch(warning);
    else expect(said).not.toMatch(/ROTATE/);
  });

  it('collects track events of the chosen playlist', () => {
    const ev = (t: number) => `#EXT-X-AGORA-TRACK-EVENT:EVENT=START,TRACK_TYPE=VIDEO,TIME=${formatUtc17(T0 + t)}`;
    const inv = inventoryOf([pl(v), sl(v, 0), sl(v, 30000)], { [pl(v)]: m3u8([{ key: sl(v, 0), tags: [ev(0)] }, { key: sl(v, 30000), tags: [ev(30000)] }]) });
    expect(uidOf(inv, '1').video!.events.map((e) => (e.timeMs ?? 0) - T0)).toEqual([0, 30000]);
  });
});

describe('markMissing', () => {
  const a = { media: 'audio' as const };
  const inv = inventoryOf([pl(a), sl(a, 0), sl(a, 5000)], { [pl(a)]: m3u8([{ key: sl(a, 0) }, { key: sl(a, 5000) }, { key: sl(a, 10000) }]) });

  it('marks the named slices absent with an error, without touching the input', () => {
    const out = markMissing(inv, new Map([[sl(a, 5000), 'truncated download']]));
    const rec = uidOf(out, '1');
    expect(rec.audio!.slices.map((s) => s.present)).toEqual([true, false, false]);
    expect(rec.problems.at(-1)).toEqual({ severity: 'error', key: sl(a, 5000), message: 'truncated download; its time becomes a gap' });
    expect(uidOf(inv, '1').audio!.slices.map((s) => s.present)).toEqual([true, true, false]);
    expect(uidOf(inv, '1').problems).toHaveLength(1);
  });

  it('does not report a slice that was already absent twice', () => {
    const out = markMissing(inv, new Map([[sl(a, 10000), 'gone']]));
    expect(uidOf(out, '1').problems).toEqual(uidOf(inv, '1').problems);
  });

  it('returns the same inventory when nothing is missing', () => {
    expect(markMissing(inv, new Map())).toBe(inv);
  });
});

describe('huge tracks (speed is measured by npm run bench:inventory, not here)', () => {
  const N = 50_000;
  const track = (uid: string, n: number, media: 'audio' | 'video' = 'video') => Array.from({ length: n }, (_, i) => sl({ uid, media }, i * 15_000 + ((i * 7) % 31) - 15));

  it('a 50,000-slice track: every slice placed once, in order', () => {
    const slices = track('1', N);
    const inv = inventoryOf([pl({ uid: '1', media: 'video' }), ...slices], { [pl({ uid: '1', media: 'video' })]: m3u8(slices.map((key) => ({ key, dur: '15.000' }))) });
    const got = uidOf(inv, '1').video!.slices;
    expect(got).toHaveLength(N);
    expect(got.every((s, i) => i === 0 || s.startMs > got[i - 1]!.startMs)).toBe(true);
    expect(uidOf(inv, '1').problems).toEqual([]);
  });

  it('a 50,000-slice track without a playlist is rebuilt from the names (each lasting up to the next)', () => {
    const slices = track('2', N);
    const inv = inventoryOf(slices, {});
    const got = uidOf(inv, '2').video!.slices;
    expect(got).toHaveLength(N - 1);
    expect(got[0]!.durationMs).toBe(15_000 + 7 - 0);
    expect(inv.unmeasured).toEqual([slices.at(-1)]);
  });

  it('100,000 identical problems become one counted problem naming the first and last slice', () => {
    const slices = track('3', 100_000, 'audio');
    const key = pl({ uid: '3', media: 'audio' });
    // Only the playlist is in storage: every slice is missing.
    const inv = inventoryOf([key, slices[0]!], { [key]: m3u8(slices.map((k) => ({ key: k, dur: '15.000' }))) });
    const problems = uidOf(inv, '3').problems;
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ severity: 'error', key: slices[1], count: 99_999 });
    expect(problems[0]!.message).toMatch(/^listed in the playlist but not in storage; its time becomes a gap \(99999 times; first .*, last .*\)$/);
    expect(problems[0]!.message).toContain(file(slices.at(-1)!));
  });

  it('a few alike problems stay as they are', () => {
    const slices = track('4', 5, 'audio');
    const key = pl({ uid: '4', media: 'audio' });
    const inv = inventoryOf([key, slices[0]!, slices[1]!], { [key]: m3u8(slices.map((k) => ({ key: k, dur: '15.000' }))) });
    expect(uidOf(inv, '4').problems.map((p) => p.key)).toEqual(slices.slice(2));
  });
});
