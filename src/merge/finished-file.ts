// Whether an output already stands under its final name (a file with content): shared by merge,
// compose and snapshots when they decide to skip work that is done.
import { stat } from 'node:fs/promises';

export const isFinishedFile = async (file: string): Promise<boolean> => stat(file).then((s) => s.isFile() && s.size > 0, () => false);
