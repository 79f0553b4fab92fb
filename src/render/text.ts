// Text drawn into pictures (compose's labels): the font is chosen by the script the text is written in, so
// that names from an RTC service in China, Japan or Korea are drawn, not shown as empty boxes. fontconfig
// picks the font: a pattern `sans:lang=<lang>` given as drawtext's `fontfile` (not a file, so ffmpeg asks
// fontconfig with it; its `font` option would drop the language).

/** Scripts that need a font of their own, with the language fontconfig finds one by, in the order they are checked. */
const SCRIPTS: [RegExp, string][] = [
  [/[\u3040-\u30ff\u31f0-\u31ff]/u, 'ja'],
  [/[\u1100-\u11ff\u3130-\u318f\uac00-\ud7af]/u, 'ko'],
  [/[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u{20000}-\u{2fa1f}]/u, 'zh-cn'],
  [/[\u0600-\u06ff\u0750-\u077f]/u, 'ar'],
  [/[\u0590-\u05ff]/u, 'he'],
  [/[\u0e00-\u0e7f]/u, 'th'],
  [/[\u0900-\u097f]/u, 'hi'],
];

/** The fontconfig pattern for drawing `text`: a sans font that covers its script (Latin, Greek, Cyrillic: the default sans). */
export function fontPatternFor(text: string): string {
  for (const [script, lang] of SCRIPTS) if (script.test(text)) return `sans:lang=${lang}`;
  return 'sans';
}
