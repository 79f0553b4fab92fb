// What recmerge prints comes partly from the recording (keys, cnames, playlist text) and from job data:
// control characters and escape sequences in it must not reach the terminal (colours, cursor moves,
// cleared screens, forged lines). They are shown escaped instead.

// C0 and C1 controls, DEL, and the bidirectional overrides/isolates that reorder what a line shows.
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
// eslint-disable-next-line no-control-regex
const UNSAFE_KEEP_LINES = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

const escape = (c: string) => {
  const code = c.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
};

/** One value for the terminal: every control character escaped (newlines included). */
export const printable = (text: string) => text.replace(UNSAFE, escape);

/** Text we built ourselves, line by line: control characters escaped, our own newlines kept. */
export const printableLines = (text: string) => text.replace(UNSAFE_KEEP_LINES, escape);

/** A copy of `value` with every string in it made printable (for text reports built from it). */
export function printableDeep<T>(value: T): T {
  if (typeof value === 'string') return printable(value) as T;
  if (Array.isArray(value)) return value.map((v) => printableDeep(v)) as T;
  if (value instanceof Map) return new Map([...value].map(([k, v]) => [printableDeep(k), printableDeep(v)])) as T;
  if (value && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, printableDeep(v)])) as T;
  }
  return value;
}

/**
 * JSON for a terminal or a log: JSON.stringify already escapes C0 controls; DEL, C1 controls and the
 * bidirectional marks are escaped too (still valid JSON, the same data once parsed).
 */
export const printableJson = (value: unknown) =>
  JSON.stringify(value, null, 2).replace(/[\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
