// Reading a composite by its layout sidecar: the luma inside each user's tile over time, and flash onsets.
import { regionLumaTimeline, type Region } from './measure.js';

export interface LayoutFile {
  width: number;
  height: number;
  fps: number;
  originUtc: string;
  /** 'grid', 'speaker' or 'vertical'. */
  layout?: string;
  /** main: who holds the big tile (speaker and vertical layouts). */
  intervals: { startMs: number; endMs: number; main?: { sid: string; uid: string } | null; tiles: { sid: string; uid: string; x: number; y: number; w: number; h: number }[] }[];
}

/** The middle of a tile: inside the fitted picture whatever its shape (a portrait picture in a 16:9 tile included). */
export const centre = (t: Region): Region => ({ x: t.x + Math.round((t.w * 7) / 16), y: t.y + Math.round(t.h / 4), w: Math.round(t.w / 8), h: Math.round(t.h / 2) });

/** Per user, the luma of the middle of its tile in every frame it has a tile. */
export async function tileLuma(file: string, layout: Pick<LayoutFile, 'intervals'>): Promise<Map<string, { t: number; y: number }[]>> {
  const rects = new Map<string, Region>();
  for (const iv of layout.intervals) for (const t of iv.tiles) rects.set(`${t.x},${t.y},${t.w},${t.h}`, centre(t));
  const keys = [...rects.keys()];
  const timeline = await regionLumaTimeline(file, [...rects.values()]);
  const out = new Map<string, { t: number; y: number }[]>();
  for (const { t, y } of timeline) {
    const iv = layout.intervals.find((i) => i.startMs / 1000 <= t + 1e-6 && t + 1e-6 < i.endMs / 1000);
    for (const tile of iv?.tiles ?? []) {
      const k = keys.indexOf(`${tile.x},${tile.y},${tile.w},${tile.h}`);
      out.set(tile.uid, [...(out.get(tile.uid) ?? []), { t, y: y[k]! }]);
    }
  }
  return out;
}

/** Times at which a flash begins (luma above 150 after a frame that was not). */
export const onsets = (series: { t: number; y: number }[]) => series.filter((f, i) => f.y > 150 && !((series[i - 1]?.y ?? 0) > 150)).map((f) => f.t);
