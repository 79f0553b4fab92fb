// m3u8-parser ships no types; this declares the part recmerge uses.
declare module 'm3u8-parser' {
  export class Parser {
    constructor(options?: Record<string, unknown>);
    manifest: unknown;
    parseStream: { on(event: 'data', listener: (entry: { type: string }) => void): void };
    push(chunk: string): void;
    end(): void;
    on(event: 'warn' | 'info', listener: (event: { message: string }) => void): void;
    addParser(options: { expression: RegExp; customType: string; dataParser?: (line: string) => unknown; segment?: boolean }): void;
    addTagMapper(options: { expression: RegExp; map: (line: string) => string }): void;
  }
}
