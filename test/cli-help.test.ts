// Every command's --help ends with examples, and every example is a command line the CLI accepts as it
// stands (all required options there, every option known): copying one never fails on its words.
import { describe, expect, it } from 'vitest';
import type { Command } from 'commander';
import { buildProgram } from '../src/cli.js';
import { EXAMPLES } from '../src/cli/examples.js';

/** A command line split the way a POSIX shell splits words (quotes, no expansion), the comment dropped; VAR=value prefixes apart. */
function words(line: string): { env: Record<string, string>; argv: string[] } {
  const out: string[] = [];
  let word: string | null = null;
  let quote: string | null = null;
  for (const c of line) {
    if (quote) {
      if (c === quote) quote = null;
      else word = (word ?? '') + c;
    } else if (c === "'" || c === '"') {
      quote = c;
      word ??= '';
    } else if (c === '#' && word === null) break;
    else if (/\s/.test(c)) {
      if (word !== null) out.push(word);
      word = null;
    } else word = (word ?? '') + c;
  }
  if (word !== null) out.push(word);
  const env: Record<string, string> = {};
  while (out[0] && /^\w+=/.test(out[0])) {
    const [name, ...value] = out.shift()!.split('=');
    env[name!] = value.join('=');
  }
  return { env, argv: out };
}

/** The program with every action replaced by one that records what it was given. */
function dryProgram(): { program: Command; ran: string[] } {
  const program = buildProgram();
  const ran: string[] = [];
  program.configureOutput({ writeOut: () => {}, writeErr: () => {} });
  for (const command of program.commands) {
    command.configureOutput({ writeOut: () => {}, writeErr: () => {} });
    command.action(() => {
      ran.push(command.name());
    });
  }
  return { program, ran };
}

describe('examples', () => {
  it('every command of the CLI has examples', () => {
    const { program } = dryProgram();
    expect(program.commands.map((c) => c.name()).filter((name) => !EXAMPLES[name])).toEqual([]);
  });

  it.each(Object.entries(EXAMPLES).flatMap(([command, lines]) => lines.map((line) => [command, line] as const)))('%s: `%s` is accepted as it stands', async (_command, line) => {
    const { env, argv } = words(line);
    expect(argv[0]).toBe('recmerge');
    const { program, ran } = dryProgram();
    const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
    Object.assign(process.env, env);
    try {
      await program.parseAsync(argv.slice(1), { from: 'user' });
    } finally {
      for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    expect(ran).toEqual([argv[1]]);
  });
});
