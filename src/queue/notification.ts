// The recording service's notification callbacks (NCS): parsing, signature check, and the mapping from a
// notification to a merge job. Pure: no I/O.
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { MergeJobData, MergeJobOptions } from './job.js';

/** eventType of "all recorded files are uploaded to the storage". */
export const UPLOADED_EVENT = 31;
/** productId of Cloud Recording; notifications of other products are acknowledged and ignored. */
export const CLOUD_RECORDING_PRODUCT = 3;

export interface NotificationPayload {
  cname: string;
  uid: string;
  sid: string;
  sequence?: number;
  sendts?: number;
  serviceType?: number;
  details?: { msgName?: string; [key: string]: unknown };
  [key: string]: unknown;
}

export interface Notification {
  noticeId: string;
  productId?: number;
  eventType: number;
  notifyMs?: number;
  /** Absent or partial for events we do not act on. */
  payload: Partial<NotificationPayload>;
}

export class NotificationError extends Error {
  override name = 'NotificationError';
}

/** Latest instant a JavaScript Date can hold (ms): beyond it there is no day to put in `{date}`. */
const MAX_INSTANT_MS = 8.64e15;

/** A millisecond timestamp from the body: a number a Date can hold, else the notification is bad (400). */
function checkInstant(field: string, value: unknown): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > MAX_INSTANT_MS) {
    throw new NotificationError(`${field}: expected Unix milliseconds, got ${JSON.stringify(value)}`);
  }
}

/** Parses the raw body; throws NotificationError when it is not a notification at all. */
export function parseNotification(body: string | Buffer): Notification {
  let value: unknown;
  try {
    value = JSON.parse(typeof body === 'string' ? body : body.toString('utf8'));
  } catch {
    throw new NotificationError('body is not JSON');
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new NotificationError('body is not a JSON object');
  const v = value as Record<string, unknown>;
  if (typeof v.noticeId !== 'string' || v.noticeId === '') throw new NotificationError('noticeId: expected a non-empty string');
  if (!Number.isInteger(v.eventType)) throw new NotificationError('eventType: expected an integer');
  for (const key of ['productId', 'notifyMs'] as const) {
    if (v[key] !== undefined && typeof v[key] !== 'number') throw new NotificationError(`${key}: expected a number`);
  }
  if (v.notifyMs !== undefined) checkInstant('notifyMs', v.notifyMs);
  if (v.payload !== undefined && (!v.payload || typeof v.payload !== 'object' || Array.isArray(v.payload))) {
    throw new NotificationError('payload: expected an object');
  }
  const notification: Notification = {
    noticeId: v.noticeId,
    eventType: v.eventType as number,
    payload: (v.payload ?? {}) as Partial<NotificationPayload>,
  };
  if (typeof v.productId === 'number') notification.productId = v.productId;
  if (typeof v.notifyMs === 'number') notification.notifyMs = v.notifyMs;
  return notification;
}

/** True for "all files uploaded" of Cloud Recording (a missing productId is taken as Cloud Recording). */
export function isUploadedEvent(n: Notification): boolean {
  return n.eventType === UPLOADED_EVENT && (n.productId === undefined || n.productId === CLOUD_RECORDING_PRODUCT);
}

/** The recording identity an "uploaded" event must carry; throws NotificationError otherwise. */
export function recordingOf(n: Notification): { cname: string; sid: string; uid: string; sendts?: number } {
  const p = n.payload;
  for (const key of ['cname', 'sid'] as const) {
    if (typeof p[key] !== 'string' || p[key] === '') throw new NotificationError(`payload.${key}: expected a non-empty string`);
  }
  const uid = typeof p.uid === 'string' ? p.uid : typeof p.uid === 'number' ? String(p.uid) : '';
  const result: { cname: string; sid: string; uid: string; sendts?: number } = { cname: p.cname!, sid: p.sid!, uid };
  if (p.sendts !== undefined) {
    checkInstant('payload.sendts', p.sendts);
    result.sendts = p.sendts;
  }
  return result;
}

// --- signature -------------------------------------------------------------------------------------------

export const SIGNATURE_HEADER = 'agora-signature';
export const SIGNATURE_V2_HEADER = 'agora-signature-v2';

function hexMatches(expected: Buffer, given: string | undefined): boolean {
  if (!given) return false;
  const candidate = Buffer.from(given.trim().toLowerCase(), 'utf8');
  const wanted = Buffer.from(expected.toString('hex'), 'utf8');
  return candidate.length === wanted.length && timingSafeEqual(candidate, wanted);
}

/**
 * The service signs the raw body with the shared secret twice: HMAC-SHA1 hex in `Agora-Signature` and
 * HMAC-SHA256 hex in `Agora-Signature-V2`. A request is authentic when either header matches.
 */
export function verifySignature(
  rawBody: Buffer | string,
  headers: { signature?: string; signatureV2?: string },
  secret: string,
): boolean {
  if (!secret) return false;
  const v2 = hexMatches(createHmac('sha256', secret).update(rawBody).digest(), headers.signatureV2);
  const v1 = hexMatches(createHmac('sha1', secret).update(rawBody).digest(), headers.signature);
  return v2 || v1;
}

/** Signs a body the way the service does (for tests, tools and replaying notifications). */
export function signBody(rawBody: Buffer | string, secret: string): { 'Agora-Signature': string; 'Agora-Signature-V2': string } {
  return {
    'Agora-Signature': createHmac('sha1', secret).update(rawBody).digest('hex'),
    'Agora-Signature-V2': createHmac('sha256', secret).update(rawBody).digest('hex'),
  };
}

// --- templates -------------------------------------------------------------------------------------------

/**
 * Placeholders of `--source` / `--output` templates:
 * - `{cname}`  channel name, as sent
 * - `{sid}`    recording id
 * - `{uid}`    uid of the recording client
 * - `{date}`   UTC day of the event (`payload.sendts`, else `notifyMs`), `YYYYMMDD`
 * e.g. `s3://bucket/recordings/{cname}/{sid}` or `/srv/merged/{date}/{sid}`.
 */
export const TEMPLATE_PLACEHOLDERS = ['cname', 'sid', 'uid', 'date'] as const;
export type TemplateValues = Record<(typeof TEMPLATE_PLACEHOLDERS)[number], string>;

const PLACEHOLDER = /\{([^{}]*)\}/g;

/** Throws NotificationError for unknown placeholders or stray braces; call at startup. */
export function checkTemplate(template: string): void {
  if (template.trim() === '') throw new NotificationError('template is empty');
  for (const match of template.matchAll(PLACEHOLDER)) {
    if (!(TEMPLATE_PLACEHOLDERS as readonly string[]).includes(match[1]!)) {
      throw new NotificationError(`template ${template}: unknown placeholder {${match[1]}} (known: ${TEMPLATE_PLACEHOLDERS.map((p) => `{${p}}`).join(' ')})`);
    }
  }
  if (/[{}]/.test(template.replace(PLACEHOLDER, ''))) throw new NotificationError(`template ${template}: unbalanced brace`);
}

/** A value may fill one path segment (or part of one) and nothing more. */
export function unsafeTemplateValue(value: string): string | null {
  if (value === '') return 'is empty';
  if (value.length > 256) return 'is too long';
  if (/[/\\]/.test(value)) return 'contains a path separator';
  if (value.includes('..')) return 'contains ".."';
  if (value === '.') return 'is "."';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(value)) return 'contains a control character';
  return null;
}

export function expandTemplate(template: string, values: TemplateValues): string {
  checkTemplate(template);
  return template.replace(PLACEHOLDER, (_, name: keyof TemplateValues) => {
    const value = values[name];
    const problem = unsafeTemplateValue(value);
    if (problem) throw new NotificationError(`{${name}} ${problem}: ${JSON.stringify(value)}`);
    return value;
  });
}

function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10).replaceAll('-', '');
}

export interface NotificationMapping {
  sourceTemplate: string;
  /** Default: `<source>/merged`. */
  outputTemplate?: string;
  mergeOptions?: MergeJobOptions;
}

/** The merge job for an "uploaded" notification; throws NotificationError when it cannot be mapped. */
export function jobFromNotification(n: Notification, mapping: NotificationMapping): MergeJobData {
  const recording = recordingOf(n);
  const when = recording.sendts ?? n.notifyMs;
  const values: TemplateValues = {
    cname: recording.cname,
    sid: recording.sid,
    uid: recording.uid || '0',
    date: when === undefined ? utcDay(Date.now()) : utcDay(when),
  };
  const source = expandTemplate(mapping.sourceTemplate, values);
  const output = mapping.outputTemplate
    ? expandTemplate(mapping.outputTemplate, values)
    : `${source.replace(/\/+$/, '')}/merged`;
  const job: MergeJobData = { source, output, origin: { noticeId: n.noticeId, sid: recording.sid, cname: recording.cname } };
  if (n.notifyMs !== undefined) job.origin!.notifyMs = n.notifyMs;
  if (mapping.mergeOptions && Object.keys(mapping.mergeOptions).length > 0) job.options = { ...mapping.mergeOptions };
  return job;
}
