// mediabunny's demuxers, loaded on first use (`recmerge --version` and the queue commands never pay for
// them), opened on one slice file: its MPEG-TS demuxer for .ts, WebM/Matroska for .webm.
import type { Input } from 'mediabunny';
import type { SliceContainer } from '../core/types.js';

export type Mediabunny = typeof import('mediabunny');
let loaded: Promise<Mediabunny> | undefined;
export const mediabunny = (): Promise<Mediabunny> => (loaded ??= import('mediabunny'));

/** Runs `use` on the slice opened as its container, and closes it whatever happens. */
export async function withSlice<T>(file: string, container: SliceContainer, use: (input: Input, mb: Mediabunny) => Promise<T>): Promise<T> {
  const mb = await mediabunny();
  const input = new mb.Input({ source: new mb.FilePathSource(file), formats: container === 'ts' ? [mb.MPEG_TS] : [mb.WEBM, mb.MATROSKA] });
  try {
    return await use(input, mb);
  } finally {
    input.dispose();
  }
}
