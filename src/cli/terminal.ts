// Where the CLI writes and how: colour only on a terminal and never with NO_COLOR (https://no-color.org)
// or TERM=dumb; results on stdout, progress, warnings and failures on stderr.
import type { Writable } from 'node:stream';

type Stream = Writable & { isTTY?: boolean };

export function colourOn(stream: Stream, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.TERM === 'dumb' || env.FORCE_COLOR === '0') return false;
  return stream.isTTY === true;
}

const CODES = { red: [31, 39], yellow: [33, 39], green: [32, 39], dim: [2, 22], bold: [1, 22] } as const;
export type Colour = keyof typeof CODES;

export function painter(stream: Stream, env: NodeJS.ProcessEnv = process.env): (colour: Colour, text: string) => string {
  const on = colourOn(stream, env);
  return (colour, text) => (on ? `\u001b[${CODES[colour][0]}m${text}\u001b[${CODES[colour][1]}m` : text);
}

export const writeLine = (stream: Stream, text: string) => {
  stream.write(text.endsWith('\n') ? text : `${text}\n`);
};
