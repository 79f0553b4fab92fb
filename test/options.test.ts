// One table of option limits (core/options.ts) for every command and for queue jobs: the same value is
// refused, by name, wherever it comes in; names every object inherits are refused outright.
import { describe, expect, it } from 'vitest';
import { UsageError } from '../src/core/errors.js';
import { checkOptions } from '../src/core/options.js';
import { JobDataError, parseJobData } from '../src/queue/job.js';

describe('option limits', () => {
  it.each<[string, unknown]>([
    ['fps', 0],
    ['fps', 241],
    ['fps', Number.NaN],
    ['size', { width: 8, height: 8 }],
    ['size', { width: 1280, height: 720, depth: 3 }],
    ['size', { width: 9000, height: 720 }],
    ['uids', ['12a']],
    ['from', -1],
    ['duration', 0],
    ['splitGap', -5],
    ['maxTiles', 65],
    ['labels', { abc: 'x' }],
    ['gaps', 'sometimes'],
    ['names', 'other'],
  ])('%s = %j is refused by the library and by a queue job, naming the field', (field, value) => {
    expect(() => checkOptions({ [field]: value })).toThrow(UsageError);
    expect(() => checkOptions({ [field]: value })).toThrow(new RegExp(`^${field} must be `));
    expect(() => parseJobData({ source: '/a', output: '/b', options: { [field]: value } })).toThrow(new RegExp(`options\\.${field}: expected`));
  });

  it.each([['fps', 240], ['size', { width: 16, height: 16 }], ['size', { width: 1281, height: 721 }], ['uids', ['1001']], ['from', 0], ['maxTiles', 64]])('%s = %j is accepted by both', (field, value) => {
    expect(() => checkOptions({ [field]: value })).not.toThrow();
    expect(() => parseJobData({ source: '/a', output: '/b', options: { [field]: value } })).not.toThrow();
  });

  it.each(['__proto__', 'constructor', 'isPrototypeOf', 'hasOwnProperty', 'toString'])('an option named %s fails closed, naming it', (name) => {
    const options = JSON.parse(`{"${name}": {"fps": 1000}, "fps": 30}`) as object;
    expect(() => checkOptions(options)).toThrow(new RegExp(`option "${name}" is not an option`));
    expect(() => parseJobData({ source: '/a', output: '/b', options })).toThrow(JobDataError);
    expect(() => parseJobData({ source: '/a', output: '/b', options })).toThrow(new RegExp(`options\\.${name}`));
  });
});
