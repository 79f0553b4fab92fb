import { describe, expect, it } from 'vitest';
import { mergeJobOptionsFrom } from '../src/cli/queue-commands.js';
import { isPermanent } from '../src/queue/worker.js';
import { connectionFor, JobDataError, jobIdFor, normalizeLocation, optionsHash, parseJobData, type MergeJobData } from '../src/queue/job.js';

const base: MergeJobData = { source: 's3://rec/class_7/sid1', output: 's3://merged/sid1' };

describe('parseJobData', () => {
  it('keeps a valid job and drops undefined options', () => {
    expect(parseJobData({ ...base, options: { mode: 'segments', size: { width: 640, height: 360 }, uids: ['1', '22'], fps: undefined } })).toEqual({
      ...base,
      options: { mode: 'segments', size: { width: 640, height: 360 }, uids: ['1', '22'] },
    });
  });

  it.each([
    ['not an object', 'x', /expected an object/],
    ['no source', { output: '/o' }, /source: expected/],
    ['an http source', { source: 'https://example.com/x', output: '/o' }, /only local paths and s3/],
    ['an s3 URL without bucket', { source: 's3:///x', output: '/o' }, /source: missing bucket/],
    ['an unknown field', { ...base, priority: 1 }, /unknown field "priority"/],
    ['an unknown option', { ...base, options: { colour: 'red' } }, /options.colour: unknown option/],
    ['a bad mode', { ...base, options: { mode: 'mix' } }, /options.mode: expected one of av, audio, video, segments/],
    ['a bad size', { ...base, options: { size: { width: 0, height: 2 } } }, /options.size/],
    ['uids as numbers', { ...base, options: { uids: [1] } }, /options.uids/],
    ['fps as text', { ...base, options: { fps: '15' } }, /options.fps/],
  ])('refuses %s', (_, value, message) => {
    expect(() => parseJobData(value)).toThrow(message);
  });

  // Keys an attacker picks to reach Object.prototype through a lookup table (issue 18.6). JSON.parse makes
  // them own properties, which is how they arrive from Redis.
  it.each(['__proto__', 'constructor', 'isPrototypeOf', 'toString', 'hasOwnProperty', 'valueOf'])('refuses the option %s, naming it', (key) => {
    const value = JSON.parse(`{"source":"s3://rec/class_7/sid1","output":"s3://merged/sid1","options":{"${key}":{"mode":"av"},"gaps":"black"}}`) as unknown;
    expect(() => parseJobData(value)).toThrow(JobDataError);
    expect(() => parseJobData(value)).toThrow(`options.${key}: unknown option`);
  });

  it('refuses prototype keys in labels and at the top, and never lets them reach the prototype', () => {
    const labels = JSON.parse('{"source":"s3://rec/a","output":"s3://merged/a","options":{"compose":true,"labels":{"__proto__":"x"}}}') as unknown;
    expect(() => parseJobData(labels)).toThrow(/options.labels/);
    const top = JSON.parse('{"source":"s3://rec/a","output":"s3://merged/a","__proto__":{"x":1}}') as unknown;
    expect(() => parseJobData(top)).toThrow('unknown field "__proto__"');
    const origin = JSON.parse('{"source":"s3://rec/a","output":"s3://merged/a","origin":{"__proto__":{"sid":"x"},"sid":"s1"}}') as unknown;
    expect(parseJobData(origin).origin).toEqual({ sid: 's1' });
    expect(({} as Record<string, unknown>).mode).toBeUndefined();
  });

  it('lists every problem at once', () => {
    expect(() => parseJobData({ source: 1, output: 2, options: { mode: 'x', fps: -1 } })).toThrow(/source.*output.*mode.*fps/);
  });
});

describe('job id', () => {
  it('is stable and ignores spelling differences that name the same merge', () => {
    const a = jobIdFor({ ...base, options: { mode: 'av', gaps: 'black', uids: ['2', '1'] } });
    const b = jobIdFor({ source: 's3://rec/class_7/sid1/', output: 's3://merged/sid1/', options: { uids: ['1', '2', '1'], gaps: 'black', mode: 'av', concurrency: 3 } });
    expect(a).toMatch(/^merge-[0-9a-f]{32}$/);
    expect(b).toBe(a);
  });

  it('differs for another source, output, sid or option', () => {
    const id = jobIdFor(base);
    expect(jobIdFor({ ...base, source: 's3://rec/class_7/sid2' })).not.toBe(id);
    expect(jobIdFor({ ...base, output: 's3://merged/other' })).not.toBe(id);
    expect(jobIdFor({ ...base, origin: { sid: 'sid1' } })).not.toBe(id);
    expect(jobIdFor({ ...base, options: { fps: 15 } })).not.toBe(id);
  });

  it('is unique for forced reruns', () => {
    const forced = { ...base, options: { force: true } };
    expect(jobIdFor(forced, () => 1)).not.toBe(jobIdFor(forced, () => 2));
    expect(jobIdFor(forced, () => 1).startsWith(jobIdFor(base))).toBe(true);
  });

  it('resolves local paths', () => {
    expect(normalizeLocation('rec/../rec/a/')).toBe(normalizeLocation(`${process.cwd()}/rec/a`));
    expect(optionsHash({})).toBe(optionsHash({ concurrency: 4, force: true }));
  });
});

describe('connection', () => {
  it('accepts redis URLs and options', () => {
    expect(connectionFor('redis://127.0.0.1:6390/2')).toEqual({ url: 'redis://127.0.0.1:6390/2' });
    expect(connectionFor({ host: 'h', port: 1 })).toEqual({ host: 'h', port: 1 });
    expect(() => connectionFor('http://h')).toThrow(/redis:\/\//);
  });
});

describe('enqueue flags', () => {
  const parsed = { mode: 'segments', gaps: 'freeze', splitGap: 15, names: 'recmerge', preset: 'veryfast', maxGap: 24, maxSpan: 48 } as const;

  it('map to job options like the merge command', () => {
    expect(mergeJobOptionsFrom({ ...parsed, size: { width: 1280, height: 720 }, fps: 15, uid: ['7', '9'], duration: 30, concurrency: '2', pathStyle: true })).toEqual({
      mode: 'segments',
      gaps: 'freeze',
      size: { width: 1280, height: 720 },
      fps: 15,
      uids: ['7', '9'],
      duration: 30,
      joinSessions: false,
      splitGap: 15,
      names: 'recmerge',
      transcode: false,
      preset: 'veryfast',
      maxGapHours: 24,
      maxSpanHours: 48,
      concurrency: 2,
      forcePathStyle: true,
    });
  });

  it.each([
    [{ duration: -3 }, /options.duration/],
    [{ concurrency: '0' }, /--concurrency/],
    [{ uid: ['abc'] }, /options.uids/],
  ])('refuse %j', (flags, message) => {
    expect(() => mergeJobOptionsFrom({ ...parsed, ...flags })).toThrow(message);
  });
});

describe('retry classification', () => {
  const err = (props: Record<string, unknown>, name = 'Error') => Object.assign(new Error('x'), { name }, props);
  it.each([
    ['a usage error', err({}, 'UsageError'), true],
    ['a missing file', err({ code: 'ENOENT' }), true],
    ['a missing bucket', err({ code: 'NoSuchBucket', status: 404, retryable: false }, 'S3OperationError'), true],
    ['403 from storage', err({ code: 'Forbidden', status: 403, retryable: false }, 'S3OperationError'), true],
    ['a throttled request', err({ code: 'SlowDown', status: 503, retryable: true }, 'S3OperationError'), false],
    ['429', err({ status: 429 }), false],
    ['a reset connection', err({ code: 'ECONNRESET' }), false],
    ['an ffmpeg crash', err({}, 'FfmpegError'), false],
    ['a string', 'boom', false],
  ])('%s -> permanent %s', (_, error, permanent) => {
    expect(isPermanent(error)).toBe(permanent);
  });
});
