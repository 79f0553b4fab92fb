// Output names from hostile cnames: nothing unprintable, never too long, still unique.
import { describe, expect, it } from 'vitest';
import { MAX_NAME_BYTES, safeOutputName } from '../src/core/output-names.js';

const bytes = (s: string) => Buffer.byteLength(s);

describe('safeOutputName', () => {
  it('leaves ordinary names alone', () => {
    for (const n of ['6b2f_math_class_7__uid_s_1001__uid_e_av.mp4', 'sid1/1001_0_merge_av.mp4', '教室_x__uid_s_1__uid_e_audio.m4a']) expect(safeOutputName(n)).toBe(n);
  });

  it('replaces control characters and escape sequences, keeping names apart', () => {
    const a = safeOutputName('sid_a\u001b[31mred\u0007__uid_s_1__uid_e_av.mp4');
    const b = safeOutputName('sid_a-[31mred-__uid_s_1__uid_e_av.mp4');
    const c = safeOutputName('sid_a\u009b31mred\u202e__uid_s_1__uid_e_av.mp4');
    for (const n of [a, c]) {
      // eslint-disable-next-line no-control-regex
      expect(n).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u202e]/);
      expect(n).toMatch(/__uid_s_1__uid_e_av\.mp4$/);
    }
    expect(new Set([a, b, c]).size).toBe(3);
    expect(b).toBe('sid_a-[31mred-__uid_s_1__uid_e_av.mp4');
  });

  it('shortens a 900-character cname with a hash, keeps the uid part and the extension, and stays unique', () => {
    const long = (c: string) => `abc123_${c.repeat(900)}__uid_s_4242__uid_e_av.mp4`;
    const x = safeOutputName(long('x'));
    const y = safeOutputName(long('y'));
    const x2 = safeOutputName(`abc123_${'x'.repeat(899)}z__uid_s_4242__uid_e_av.mp4`);
    for (const n of [x, y, x2]) {
      expect(bytes(n)).toBeLessThanOrEqual(MAX_NAME_BYTES);
      expect(n).toMatch(/^abc123_x*|^abc123_y*/);
      expect(n).toMatch(/~[0-9a-f]{12}~__uid_s_4242__uid_e_av\.mp4$/);
    }
    expect(new Set([x, y, x2]).size).toBe(3);
    expect(safeOutputName(long('x'))).toBe(x);
  });

  it('counts bytes, not characters, and never splits a character', () => {
    const n = safeOutputName(`s_${'教'.repeat(300)}__uid_s_1__uid_e_audio.m4a`);
    expect(bytes(n)).toBeLessThanOrEqual(MAX_NAME_BYTES);
    expect(n).not.toContain('\uFFFD');
    expect(Buffer.from(n).toString('utf8')).toBe(n);
  });
});
