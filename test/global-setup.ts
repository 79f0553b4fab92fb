// Fails fast, with the fix, when the machine lacks what the suite needs.
import { resolveTool } from '../src/ffmpeg/runner.js';

export default function setup(): void {
  resolveTool('ffmpeg');
  resolveTool('ffprobe');
}
