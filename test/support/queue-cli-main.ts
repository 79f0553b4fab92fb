// Test entry for the queue commands in a child process (the tests spawn `node --import tsx <this> worker …`).
import { Command } from 'commander';
import { registerQueueCommands } from '../../src/cli/queue-commands.js';

const program = new Command('recmerge').exitOverride((error) => process.exit(error.exitCode));
registerQueueCommands(program);
await program.parseAsync(process.argv);
