// The one module that reads what Exotel sends: every quirk of the reference lives here, so routes see
// clean values. Exotel may send GET query strings, urlencoded, multipart or JSON bodies (reference §3.1,
// §5), quoted digits (§5.1), the strings "None" and "null" for missing values (§13), and times in IST
// with no zone (§1.6).

import { parseUrlencoded } from '../urlencoded.js';

export type ExotelParams = Record<string, string>;

// Our URL signature is a credential for that URL: never stored or logged with what Exotel sent.
const NOT_STORED = new Set(['sig']);

/**
 * Query and body merged into one flat map of strings; the first value answers for a repeated key. Nested JSON
 * becomes the keys a form body has (§3.3): `Legs[0][OnCallDuration]` from an array or an object of legs,
 * `Details[Leg1Status]`. A repeated key's later values are kept as `key[1]` … `key[8]`; more are counted in
 * `repeats_dropped`.
 */
export function exotelParams(query: unknown, body: unknown): ExotelParams {
  const params: ExotelParams = {};
  // Per key, the next repeat's number: a body of thousands of one repeated key costs as many steps, not
  // their square (the event loop is every call's).
  const repeats = new Map<string, number>();
  let dropped = 0;
  const put = (key: string, value: string | undefined) => {
    if (value === undefined) return;
    // The same key in the query and the body: the later one is kept as a repeat, never dropped (it may be
    // the one that carries the keys: `?digits=` with a body of digits="1").
    let name = key;
    if (Object.hasOwn(params, name)) {
      // Past names taken by literal `key[n]` fields too, but never past the repeats firstPresent reads.
      let n = repeats.get(key) ?? 1;
      while (n <= MAX_REPEATS && Object.hasOwn(params, `${key}[${n}]`)) n++;
      repeats.set(key, n + 1);
      // Repeats past those are only counted: no Exotel request has them.
      if (n > MAX_REPEATS) return void dropped++;
      name = `${key}[${n}]`;
    }
    params[name] = value;
  };
  for (const source of [query, typeof body === 'string' ? textBody(body) : body]) {
    if (!source || typeof source !== 'object' || Array.isArray(source)) continue;
    for (const [key, raw] of Object.entries(source as Record<string, unknown>)) if (!NOT_STORED.has(key)) flatten(key, raw, put, 0);
  }
  if (dropped > 0) params.repeats_dropped = String(dropped);
  return params;
}

// Deeper than any Exotel payload; what lies below is kept as JSON text, not walked (a hostile body).
const MAX_DEPTH = 4;

function flatten(key: string, raw: unknown, put: (key: string, value: string | undefined) => void, depth: number): void {
  if (depth > MAX_DEPTH && typeof raw === 'object' && raw !== null) return put(key, JSON.stringify(raw));
  if (Array.isArray(raw)) {
    // Records (legs) are numbered; plain values are repeats of the key (`key`, `key[1]`, …, as put names
    // them), so a repeat in the query and a list in the body never nest (`key[1][1]`).
    const records = raw.some(isRecord);
    return raw.forEach((item, i) => flatten(records ? `${key}[${i}]` : key, item, put, depth + 1));
  }
  if (isRecord(raw)) return Object.entries(raw).forEach(([field, value]) => flatten(`${key}[${field}]`, value, put, depth + 1));
  put(key, firstString(raw));
}

/**
 * A body we could not read, kept among the params under names Exotel never uses, so it is stored with the
 * request: the reason, and the text itself when we have it.
 */
export const unreadableBody = (reason: string, text?: string): ExotelParams => ({ body_unreadable: reason, ...(text === undefined ? {} : { body_text: text }) });

/** The request's body could not be read: its digits, if it had any, are not known (not the same as none). */
export const bodyUnreadable = (params: ExotelParams): boolean => params.body_unreadable !== undefined;

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value) && !('value' in value);

// Far deeper than any Exotel payload, and shallow enough for JSON.stringify to walk it back (a hostile
// body of thousands of brackets overflows the stack there).
const MAX_JSON_NESTING = 32;

/** A JSON text we do not walk: nested past any payload of Exotel's (counted without parsing it). */
export const nestedTooDeeply = (text: string): boolean => jsonNesting(text) > MAX_JSON_NESTING;

/** Only a JSON object carries fields; an array, a string or a number is a body we cannot read. */
export const isJsonObject = (value: unknown): boolean => typeof value === 'object' && value !== null && !Array.isArray(value);

function jsonNesting(text: string): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) deepest = Math.max(deepest, ++depth);
    else if (c === 0x7d || c === 0x5d) depth--;
  }
  return deepest;
}

/**
 * A body sent with a content type we do not parse (text/plain, octet-stream, XML) is kept as text: read it
 * as the JSON object or the form it is, so what Exotel said is not lost to a wrong header. Anything else is
 * kept whole as a body we could not read.
 */
function textBody(text: string): unknown {
  const trimmed = text.trim();
  if (trimmed === '') return undefined;
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    if (nestedTooDeeply(trimmed)) return unreadableBody('JSON nested too deeply', text);
    let value: unknown;
    try {
      value = JSON.parse(trimmed);
    } catch {
      return unreadableBody('invalid JSON', text);
    }
    return isJsonObject(value) ? value : unreadableBody('not a JSON object', text);
  }
  if (!trimmed.includes('=')) return unreadableBody('neither JSON nor a form', text);
  // As a form body is read: a repeated key is a list, so its later values are kept as repeats too.
  return parseUrlencoded(trimmed);
}

function firstString(raw: unknown): string | undefined {
  if (Array.isArray(raw)) return firstString(raw[0]);
  if (typeof raw === 'string') return raw;
  if (typeof raw === 'number' || typeof raw === 'boolean') return String(raw);
  // @fastify/multipart field objects carry their text in `value`.
  if (raw && typeof raw === 'object' && 'value' in raw) return firstString((raw as { value: unknown }).value);
  return undefined;
}

/** A value, or undefined for the placeholders Exotel uses for "nothing". */
export function present(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  return trimmed === '' || /^(none|null|undefined)$/i.test(trimmed) ? undefined : trimmed;
}

/**
 * The vendor's number on a flow request of a call we placed (CallFrom, or From on older pages, reference
 * §5.1, §5.2); undefined on any other call (Direction incoming or inbound: the vendor ringing us).
 */
export function callerOf(params: ExotelParams): string | undefined {
  const direction = firstPresent(params, ['Direction']);
  if (direction !== undefined && !/^outbound/i.test(direction)) return undefined;
  return firstPresent(params, ['CallFrom', 'From']);
}

const DIGIT_KEYS = ['Digits', 'DigitsPressed', 'digits'] as const;

/**
 * The keys the caller pressed: '' when the request says nothing was pressed, undefined when it carries no
 * digits at all. Accepts Digits, DigitsPressed and digits, quoted ("1") or not, with a trailing #.
 */
export function pressedDigits(params: ExotelParams): string | undefined {
  if (!DIGIT_KEYS.some((k) => k in params)) return undefined;
  return pressedKeys(params)?.replace(/#+$/, '') ?? '';
}

/** Whether any key was pressed, the finish key alone included: `#` is a press with no digits, not silence. */
export const pressedAnyKey = (params: ExotelParams): boolean => pressedKeys(params) !== undefined;

/** What the first digits field that carries keys says, unquoted; `Digits=&DigitsPressed=2` is a 2, not silence. */
function pressedKeys(params: ExotelParams): string | undefined {
  return firstPresent(params, DIGIT_KEYS, (value) => value.trim().replace(/^"+|"+$/g, '').trim());
}

// More repeats of one field than any request of Exotel's has.
const MAX_REPEATS = 8;

/**
 * The first of these fields, or of their repeats (`key[1]`, … from a repeated key or an array), with a value
 * (after `clean`): an empty first value never hides a later one (`Status=&Status=completed`, an empty
 * `Status` beside `CallStatus=completed`).
 */
export function firstPresent(params: ExotelParams, names: readonly string[], clean: (value: string) => string = (value) => value): string | undefined {
  for (const name of names) {
    for (let n = 0; n <= MAX_REPEATS; n++) {
      const value = params[n === 0 ? name : `${name}[${n}]`];
      if (value === undefined) continue;
      const found = present(clean(value));
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

/** Exotel's `YYYY-MM-DD HH:mm:ss` in IST (no zone given) as an ISO instant; undefined if unreadable. */
export function istToIso(value: string | undefined): string | undefined {
  const text = present(value);
  if (!text) return undefined;
  const match = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})$/.exec(text);
  if (!match) return undefined;
  const [, y, mo, d, h, mi, s] = match.map(Number) as number[];
  const utc = Date.UTC(y!, mo! - 1, d!, h!, mi!, s!) - 330 * 60_000;
  // The placeholder EndTime 1970-01-01 05:30:00 (reference §5.1) means "not known".
  return Number.isNaN(utc) || utc <= 0 ? undefined : new Date(utc).toISOString();
}

// Every status Exotel documents (reference §3.1, §5.5); anything else is stored with its request, not applied.
const KNOWN_STATUSES = new Set(['ringing', 'in-progress', 'completed', 'busy', 'failed', 'no-answer', 'canceled']);

/**
 * Exotel's call status, lower-cased, with `_` or a space read as `-` and `cancelled` as `canceled`. Its
 * `queued` (accepted, not yet ringing) is read as `ringing`: the call is in flight either way, and `queued`
 * is our own word for a call waiting to be dialled. Undefined for a status Exotel never sends.
 */
export function exotelStatus(raw: string | undefined): string | undefined {
  const status = present(raw)?.toLowerCase().replace(/[_ ]/g, '-');
  if (status === 'queued') return 'ringing';
  if (status === 'cancelled') return 'canceled';
  return status !== undefined && KNOWN_STATUSES.has(status) ? status : undefined;
}

export const FINAL_STATUSES = ['completed', 'busy', 'no-answer', 'failed', 'canceled'] as const;
export type FinalCallStatus = (typeof FINAL_STATUSES)[number];
export const isFinalStatus = (status: string): status is FinalCallStatus => (FINAL_STATUSES as readonly string[]).includes(status);

export interface StatusLeg { status?: string; onCallDuration?: number; answeredBy?: string }

export interface StatusReport {
  callSid?: string;
  status?: string;
  recordingUrl?: string;
  dateUpdated?: string;
  eventType?: string;
  durationSeconds?: number;
  startTime?: string;
  endTime?: string;
  direction?: string;
  customField?: string;
  legs: StatusLeg[];
}

/** A status callback (reference §3.2, §3.3), from a flat map of its fields. */
export function statusReport(params: ExotelParams): StatusReport {
  const legs: StatusLeg[] = [];
  for (const [key, value] of Object.entries(params)) {
    // A leg's field, or a repeat of it (`Legs[0][Status][1]`): the first with a value counts.
    const match = /^Legs\[(\d{1,2})\]\[(\w+)\](?:\[\d+\])?$/.exec(key);
    if (!match) continue;
    const leg = (legs[Number(match[1])] ??= {});
    if (match[2] === 'Status') leg.status ??= present(value);
    if (match[2] === 'OnCallDuration') leg.onCallDuration ??= seconds(value);
    if (match[2] === 'AnsweredBy') leg.answeredBy ??= present(value);
  }
  return {
    callSid: firstPresent(params, ['CallSid']),
    status: exotelStatus(firstPresent(params, ['Status', 'CallStatus'])),
    recordingUrl: webUrl(firstPresent(params, ['RecordingUrl'])),
    dateUpdated: istToIso(firstPresent(params, ['DateUpdated'])),
    eventType: firstPresent(params, ['EventType'])?.toLowerCase(),
    // Exotel names it ConversationDuration on callbacks; Call Details and older notes say Duration/CallDuration.
    durationSeconds: seconds(firstPresent(params, ['ConversationDuration', 'Duration', 'CallDuration'])),
    startTime: istToIso(firstPresent(params, ['StartTime'])),
    endTime: istToIso(firstPresent(params, ['EndTime'])),
    direction: firstPresent(params, ['Direction']),
    customField: firstPresent(params, ['CustomField']),
    // Each leg at its own number, a missing one empty: Legs[1] alone is not the vendor's leg 0.
    legs: Array.from(legs, (leg) => leg ?? {}),
  };
}

// No call lasts a day (TimeLimit is at most 4 h): a longer one is not a duration.
const MAX_SECONDS = 86_400;

function seconds(value: string | undefined): number | undefined {
  const text = present(value);
  if (!text || !/^\d+(\.\d+)?$/.test(text)) return undefined;
  const rounded = Math.round(Number(text));
  return rounded <= MAX_SECONDS ? rounded : undefined;
}

/** A recording is fetched over http(s) and shown on /ops: any other scheme (javascript:) is not a URL of Exotel's. */
export function webUrl(value: string | undefined): string | undefined {
  const text = present(value);
  return text !== undefined && /^https?:\/\//i.test(text) && URL.canParse(text) ? text : undefined;
}

/**
 * How the agent leg of a transfer ended, from what Exotel sent: DialCallStatus on an ExoML <Dial> action
 * (reference §4.1), or the Passthru's CallType after a Connect applet (§5.1: incomplete = no agent picked up).
 * Undefined when the request says nothing about it.
 */
export function agentLegStatus(params: ExotelParams): string | undefined {
  const dial = firstPresent(params, ['DialCallStatus', 'DialStatus'])?.toLowerCase();
  if (dial) return dial.slice(0, 32);
  const callType = firstPresent(params, ['CallType'])?.toLowerCase();
  if (!callType || callType === 'call-attempt') return undefined;
  return (callType === 'incomplete' ? 'no-answer' : callType).slice(0, 32);
}
