// The only code that talks to Exotel's REST API (reference §1, §2). It builds the Basic header itself
// (Node's fetch refuses credentials in URLs, §1.2), sends form bodies with literal bracket keys (§1.7,
// §13), asks for JSON (.json, §1.1) and turns every failure into a typed error with a stable code.
import { Agent, request, type Dispatcher } from 'undici';
import { exotelStatus, webUrl } from './inbound.js';
import {
  ExotelBadResponseError,
  ExotelRateLimitedError,
  ExotelRestError,
  ExotelServerError,
  ExotelTimeoutError,
  ExotelUnreachableError,
} from '../errors.js';
import { retryAfter } from '../retry-after.js';

export interface ExotelAccount {
  apiBaseUrl: string;
  accountSid: string;
  apiKey: string;
  apiToken: string;
  callerId: string;
  statusCallbackEvents: string[];
  httpTimeoutMs: number;
}

export interface ConnectRequest {
  /** The number Exotel dials first: the vendor (From and To swapped rang the wrong party, §13). */
  from: string;
  url: string;
  statusCallback: string;
  /** Our call reference; Exotel hands it back to applets and the terminal callback (§1.4). */
  customField: string;
  ringTimeoutSeconds: number;
  timeLimitSeconds: number;
}

export interface ExotelCall {
  sid: string;
  status: string;
  from?: string | undefined;
  dateCreated?: string | undefined;
  duration?: number | undefined;
  recordingUrl?: string | undefined;
  /** Only when Call Details was asked with RecordingUrlValidity (§2): plays without our credentials, for a while. */
  preSignedRecordingUrl?: string | undefined;
  raw: Record<string, unknown>;
}

/** Exotel answered with a RestException; `httpStatus` and Exotel's own `exotelCode` say why. */
export interface RestFailure { httpStatus: number; exotelCode?: string | undefined; exotelMessage: string }

/** The Url that makes Exotel run a flow built in its dashboard (reference §1.1; `http`, as Exotel documents it). */
export const dashboardFlowUrl = (accountSid: string, appId: string): string =>
  `http://my.exotel.com/${encodeURIComponent(accountSid)}/exoml/start_voice/${encodeURIComponent(appId)}`;

// Errors that prove the request never left this machine: nothing can have been created.
const NEVER_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);

export class ExotelClient {
  private readonly dispatcher: Dispatcher;
  private readonly authorization: string;
  /** Told of every request's operation, result and seconds (metrics). */
  observer: ((operation: string, result: string, seconds: number) => void) | undefined;
  /** Runs before every request leaves: what we wrote about it must be on disk first (the group commit). */
  beforeRequest: (() => void) | undefined;

  constructor(private readonly account: ExotelAccount) {
    const timeout = account.httpTimeoutMs;
    this.dispatcher = new Agent({ connect: { timeout: Math.min(timeout, 5_000) }, headersTimeout: timeout, bodyTimeout: timeout });
    this.authorization = `Basic ${Buffer.from(`${account.apiKey}:${account.apiToken}`).toString('base64')}`;
  }

  /** POST Calls/connect.json for a call flow. Never retried here: a timeout may already have rung the vendor. */
  async connect(call: ConnectRequest): Promise<ExotelCall> {
    const fields: Array<[string, string]> = [
      ['From', call.from],
      ['CallerId', this.account.callerId],
      ['Url', call.url],
      ['CallType', 'trans'],
      ['TimeOut', String(call.ringTimeoutSeconds)],
      ['TimeLimit', String(call.timeLimitSeconds)],
      // Sent explicitly: the documented default disagrees between sources (§1.4, §11.4).
      ['Record', 'true'],
      ['StatusCallback', call.statusCallback],
      ['CustomField', call.customField.slice(0, 128)],
    ];
    this.account.statusCallbackEvents.forEach((event, i) => fields.push([`StatusCallbackEvents[${i}]`, event]));
    const body = await this.send('POST', '/Calls/connect.json', formBody(fields));
    return toCall(body);
  }

  /**
   * GET Calls/{sid}.json: the call as Exotel knows it now (Duration and Price are filled late, §2).
   * `recordingUrlValidityMinutes` (5 to 60) asks for a PreSignedRecordingUrl, fetched without credentials.
   */
  async callDetails(sid: string, options: { recordingUrlValidityMinutes?: number } = {}): Promise<ExotelCall> {
    const validity = options.recordingUrlValidityMinutes;
    const query = validity === undefined ? '' : `?RecordingUrlValidity=${Math.min(60, Math.max(5, Math.round(validity)))}`;
    return toCall(await this.send('GET', `/Calls/${encodeURIComponent(sid)}.json${query}`));
  }

  /**
   * The bulk Calls list (reference §2), filtered by the number dialled (E.164) and a DateCreated window in
   * Exotel's IST wall-clock form: how we learn whether an ambiguous Connect request placed a call.
   */
  async listCalls(filter: { from: string; createdFrom: Date; createdTo: Date }): Promise<ExotelCall[]> {
    const query = new URLSearchParams({
      From: filter.from,
      DateCreated: `gte:${istWallClock(filter.createdFrom)};lte:${istWallClock(filter.createdTo)}`,
      PageSize: '100',
      SortBy: 'DateCreated:asc',
    });
    const body = (await this.send('GET', `/Calls.json?${query.toString()}`)) as { Calls?: unknown } | null;
    if (!body || !Array.isArray(body.Calls)) throw new ExotelBadResponseError('no Calls list in the answer');
    return body.Calls.map((call) => toCall({ Call: call }));
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }

  private async send(method: 'GET' | 'POST', path: string, body?: string): Promise<unknown> {
    this.beforeRequest?.();
    const started = performance.now();
    const operation = path.startsWith('/Calls/connect') ? 'connect' : path.startsWith('/Calls.json') ? 'list' : 'details';
    try {
      const answer = await this.exchange(method, path, body);
      this.observer?.(operation, 'ok', (performance.now() - started) / 1000);
      return answer;
    } catch (error) {
      this.observer?.(operation, (error as { code?: string }).code ?? 'error', (performance.now() - started) / 1000);
      throw error;
    }
  }

  private async exchange(method: 'GET' | 'POST', path: string, body?: string): Promise<unknown> {
    const url = `${this.account.apiBaseUrl}/v1/Accounts/${encodeURIComponent(this.account.accountSid)}${path}`;
    let response: Dispatcher.ResponseData;
    try {
      response = await request(url, {
        method,
        dispatcher: this.dispatcher,
        headers: {
          authorization: this.authorization,
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/x-www-form-urlencoded' }),
        },
        ...(body === undefined ? {} : { body }),
        signal: AbortSignal.timeout(this.account.httpTimeoutMs + 1_000),
      });
    } catch (error) {
      const code = errorCode(error);
      if (NEVER_SENT.has(code)) throw new ExotelUnreachableError(code);
      throw new ExotelTimeoutError();
    }
    let text: string;
    try {
      text = await response.body.text();
    } catch {
      throw new ExotelTimeoutError();
    }
    const status = response.statusCode;
    if (status >= 200 && status < 300) {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        throw new ExotelBadResponseError(`HTTP ${status} with a body that is not JSON`);
      }
    }
    if (status === 429) {
      const error = new ExotelRateLimitedError();
      Object.assign(error, { retryAfterSeconds: retryAfter(response.headers['retry-after']) });
      throw error;
    }
    if (status >= 500) throw new ExotelServerError(status);
    const failure = restFailure(status, text);
    throw Object.assign(new ExotelRestError(failure.exotelMessage), failure);
  }
}

/** Exotel's `YYYY-MM-DD HH:mm:ss`, IST (reference §1.6). */
export function istWallClock(at: Date): string {
  return new Date(at.getTime() + 330 * 60_000).toISOString().slice(0, 19).replace('T', ' ');
}

/** Form encoding with the keys written as they are: Exotel rejected percent-encoded brackets (§1.7). */
function formBody(fields: Array<[string, string]>): string {
  return fields.map(([key, value]) => `${key.replace(/[^\w[\]]/g, encodeURIComponent)}=${encodeURIComponent(value)}`).join('&');
}

function toCall(body: unknown): ExotelCall {
  const call = (body as { Call?: Record<string, unknown> } | null)?.Call;
  const sid = call?.Sid;
  if (!call || typeof sid !== 'string' || sid.trim() === '' || sid === 'None') {
    throw new ExotelBadResponseError('no Call.Sid in the answer');
  }
  const text = (value: unknown) => (typeof value === 'string' && value !== '' && value !== 'null' ? value : undefined);
  const duration = Number(call.Duration);
  return {
    sid,
    // A Connect answer without a status is still a call in flight.
    status: exotelStatus(text(call.Status)) ?? 'ringing',
    from: text(call.From),
    dateCreated: text(call.DateCreated),
    duration: call.Duration !== null && call.Duration !== '' && Number.isFinite(duration) ? Math.round(duration) : undefined,
    recordingUrl: webUrl(text(call.RecordingUrl)),
    preSignedRecordingUrl: webUrl(text(call.PreSignedRecordingUrl)),
    raw: call,
  };
}

/** Exotel's error body is JSON, XML or plain text (§1.7, §13); take its Message and Code from any of them. */
export function restFailure(httpStatus: number, text: string): RestFailure {
  try {
    const parsed = JSON.parse(text) as { RestException?: { Message?: unknown; Code?: unknown } };
    const rest = parsed.RestException;
    if (rest && typeof rest.Message === 'string') {
      return { httpStatus, exotelMessage: rest.Message.trim(), exotelCode: rest.Code === undefined ? undefined : String(rest.Code) };
    }
  } catch {
    // not JSON: try XML, then plain text
  }
  const message = /<Message>([\s\S]*?)<\/Message>/.exec(text)?.[1]?.trim();
  const code = /<Code>([\s\S]*?)<\/Code>/.exec(text)?.[1]?.trim();
  const plain = text.trim().slice(0, 300);
  return { httpStatus, exotelMessage: message ?? (plain || `HTTP ${httpStatus}`), exotelCode: code };
}

function errorCode(error: unknown): string {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && code !== 'UND_ERR_ABORTED') return code;
    current = (current as { cause?: unknown }).cause;
  }
  return (error as { name?: string })?.name ?? 'unknown';
}
