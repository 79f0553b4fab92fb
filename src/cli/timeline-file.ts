// `inspect --html`: writes the timeline page (to a temporary name, renamed when complete).
import { rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Inventory } from '../core/types.js';
import { timelineHtml } from '../report/timeline-html.js';

export async function writeTimeline(file: string, inventory: Inventory, source: string): Promise<string> {
  const target = path.resolve(file);
  const temp = `${target}.${process.pid}.tmp`;
  await writeFile(temp, timelineHtml(inventory, { source }));
  await rename(temp, target);
  return target;
}
