import { describe, expect, it } from 'vitest';
import {
  checkTemplate,
  expandTemplate,
  isUploadedEvent,
  jobFromNotification,
  NotificationError,
  parseNotification,
  signBody,
  unsafeTemplateValue,
  verifySignature,
  type TemplateValues,
} from '../src/queue/notification.js';

// The service's documentation example: secret "secret" and this exact body.
const DOC_BODY =
  '{"eventMs":1560408533119,"eventType":10,"noticeId":"4eb720f0-8da7-11e9-a43e-53f411c2761f","notifyMs":1560408533119,"payload":{"a":"1","b":2},"productId":1}';
const DOC_SHA1 = '033c62f40f687675f17f0f41f91a40c71c0f134c';
const DOC_SHA256 = '6d3320c60b11101395b7fc8f9068748808a0aa1bfa064438e39d1bc2c7d74d99';

const uploaded = (over: Record<string, unknown> = {}, payload: Record<string, unknown> = {}) =>
  JSON.stringify({
    noticeId: 'n-1',
    productId: 3,
    eventType: 31,
    notifyMs: Date.UTC(2026, 10, 24, 7, 0, 0),
    payload: {
      cname: 'class_7',
      uid: '527841',
      sid: 'ee1a8b7d9a32ab6a6f6f0e0f0e0f0e0f',
      sequence: 2,
      sendts: Date.UTC(2026, 10, 23, 23, 59, 0),
      serviceType: 0,
      details: { msgName: 'uploaded', status: 0 },
      ...payload,
    },
    ...over,
  });

describe('signature', () => {
  it.each([
    ['documented SHA1 (Agora-Signature)', { signature: DOC_SHA1 }, true],
    ['documented SHA256 (Agora-Signature-V2)', { signatureV2: DOC_SHA256 }, true],
    ['both', { signature: DOC_SHA1, signatureV2: DOC_SHA256 }, true],
    ['upper-case hex', { signatureV2: DOC_SHA256.toUpperCase() }, true],
    ['one good, one bad', { signature: '0'.repeat(40), signatureV2: DOC_SHA256 }, true],
    ['none', {}, false],
    ['empty', { signature: '', signatureV2: '' }, false],
    ['SHA256 in the V1 header', { signature: DOC_SHA256 }, false],
    ['truncated', { signatureV2: DOC_SHA256.slice(0, 63) }, false],
    ['one bit off', { signature: `${DOC_SHA1.slice(0, -1)}d` }, false],
  ])('%s', (_, headers, ok) => {
    expect(verifySignature(Buffer.from(DOC_BODY), headers, 'secret')).toBe(ok);
  });

  it('covers the raw bytes: re-serialised JSON or another secret does not verify', () => {
    const reserialised = JSON.stringify(JSON.parse(DOC_BODY), null, 1);
    expect(verifySignature(reserialised, { signatureV2: DOC_SHA256 }, 'secret')).toBe(false);
    expect(verifySignature(DOC_BODY, { signatureV2: DOC_SHA256 }, 'Secret')).toBe(false);
    expect(verifySignature(DOC_BODY, { signatureV2: DOC_SHA256 }, '')).toBe(false);
  });

  it('signBody produces the documented values', () => {
    expect(signBody(DOC_BODY, 'secret')).toEqual({ 'Agora-Signature': DOC_SHA1, 'Agora-Signature-V2': DOC_SHA256 });
  });
});

describe('parseNotification', () => {
  it('reads an uploaded event', () => {
    const n = parseNotification(Buffer.from(uploaded()));
    expect(n).toMatchObject({ noticeId: 'n-1', productId: 3, eventType: 31, payload: { cname: 'class_7', sid: 'ee1a8b7d9a32ab6a6f6f0e0f0e0f0e0f' } });
    expect(isUploadedEvent(n)).toBe(true);
  });

  it.each([
    ['recording started', { eventType: 40 }, false],
    ['another product', { productId: 1 }, false],
    ['no productId', { productId: undefined }, true],
  ])('%s', (_, over, expected) => {
    expect(isUploadedEvent(parseNotification(uploaded(over)))).toBe(expected);
  });

  it.each([
    ['not JSON', '{"noticeId":', /not JSON/],
    ['an array', '[1]', /JSON object/],
    ['no noticeId', '{"eventType":31}', /noticeId/],
    ['eventType as text', '{"noticeId":"a","eventType":"31"}', /eventType/],
    ['payload as text', '{"noticeId":"a","eventType":31,"payload":"x"}', /payload/],
  ])('rejects %s', (_, body, message) => {
    expect(() => parseNotification(body)).toThrow(message);
  });
});

describe('templates', () => {
  const values: TemplateValues = { cname: 'class_7', sid: 'ee1a8b7d', uid: '527841', date: '20261123' };

  it.each([
    ['s3://bucket/recordings/{cname}/{sid}', 's3://bucket/recordings/class_7/ee1a8b7d'],
    ['/srv/rec/{date}/{sid}_{uid}', '/srv/rec/20261123/ee1a8b7d_527841'],
    ['s3://bucket/fixed', 's3://bucket/fixed'],
  ])('%s', (template, expected) => {
    expect(expandTemplate(template, values)).toBe(expected);
  });

  it.each([
    ['{channel}', /unknown placeholder \{channel\}/],
    ['s3://b/{sid', /unbalanced/],
    ['s3://b/sid}', /unbalanced/],
    ['  ', /empty/],
  ])('refuses template %s', (template, message) => {
    expect(() => checkTemplate(template)).toThrow(message);
  });

  it.each([
    ['..', 'contains ".."'],
    ['a/../b', 'contains a path separator'],
    ['a/b', 'contains a path separator'],
    ['a\\b', 'contains a path separator'],
    ['x..y', 'contains ".."'],
    ['.', 'is "."'],
    ['', 'is empty'],
    ['a\nb', 'contains a control character'],
    ['x'.repeat(300), 'is too long'],
  ])('refuses value %j', (value, problem) => {
    expect(unsafeTemplateValue(value)).toBe(problem);
    expect(() => expandTemplate('s3://b/{cname}', { ...values, cname: value })).toThrow(NotificationError);
  });

  it.each(['class 7', 'a-b_c', 'Ünïcode', 'a.b', '#1!'])('passes value %j through unchanged', (value) => {
    expect(expandTemplate('/r/{cname}', { ...values, cname: value })).toBe(`/r/${value}`);
  });
});

describe('jobFromNotification', () => {
  it('maps cname/sid/date into source and output', () => {
    const job = jobFromNotification(parseNotification(uploaded()), {
      sourceTemplate: 's3://rec/{cname}/{sid}',
      outputTemplate: 's3://merged/{date}/{sid}',
      mergeOptions: { mode: 'av', gaps: 'black' },
    });
    expect(job).toEqual({
      source: 's3://rec/class_7/ee1a8b7d9a32ab6a6f6f0e0f0e0f0e0f',
      // sendts (the event's own time, stable across retries) decides the day, not notifyMs
      output: 's3://merged/20261123/ee1a8b7d9a32ab6a6f6f0e0f0e0f0e0f',
      options: { mode: 'av', gaps: 'black' },
      origin: { noticeId: 'n-1', sid: 'ee1a8b7d9a32ab6a6f6f0e0f0e0f0e0f', cname: 'class_7', notifyMs: Date.UTC(2026, 10, 24, 7, 0, 0) },
    });
  });

  it('defaults the output to <source>/merged', () => {
    const job = jobFromNotification(parseNotification(uploaded()), { sourceTemplate: '/data/{sid}/' });
    expect(job.output).toBe('/data/ee1a8b7d9a32ab6a6f6f0e0f0e0f0e0f/merged');
  });

  it.each([
    ['a sid that climbs out', { sid: '../../etc' }, /path separator/],
    ['a cname that is ..', { cname: '..' }, /"\.\."/],
    ['no sid', { sid: undefined }, /payload.sid/],
    ['a numeric cname', { cname: 7 }, /payload.cname/],
  ])('refuses %s', (_, payload, message) => {
    expect(() => jobFromNotification(parseNotification(uploaded({}, payload)), { sourceTemplate: 's3://rec/{cname}/{sid}' })).toThrow(message);
  });
});
