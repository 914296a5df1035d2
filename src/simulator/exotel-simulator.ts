// A fake Exotel on loopback: the Connect API and Call Details with Basic auth (reference §1, §2), a runner
// that plays each call against our server, and the status callback as multipart/form-data (§3). The
// server's real HTTP client talks to it exactly as it would to api.exotel.com.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { FormData, request } from 'undici';
import { create } from 'xmlbuilder2';
import { normalisePhone } from '../phone.js';
import { playAppletCall, type DashboardFlow } from './applet-call.js';
import { playVoicebotCall, type StreamPeer, type VoicebotFlow } from './voicebot-call.js';
import { playExomlCall } from './exoml-call.js';
import { istStamp, type SimulatedCall } from './simulated-call.js';
import { vendorBehaviour } from './vendors.js';

export interface SimulatorAccount { accountSid: string; apiKey: string; apiToken: string }

/**
 * Faults the simulated Exotel can inject. `connect` is a queue, one entry per Connect request (then normal);
 * the rates apply after the queue is empty, drawn from a seeded generator so a run can be replayed.
 */
export interface SimulatorFaults {
  /**
   * hang: the call is created and rings, the answer comes too late; lost: too late, and no call was made;
   * placed-502: the call is created and rings, but a gateway in front of Exotel answers 502 (DESIGN §5).
   */
  connect: Array<'500' | '429' | 'hang' | 'lost' | 'placed-502' | 'ok'>;
  connectRates: { error500: number; rateLimited: number; hang: number };
  /** The Calls list, one entry per request (then normal); and how long each answer takes. */
  list: Array<'503' | 'ok'>;
  listDelayMs: number;
  /** Retry-After sent with a 429 (seconds); none when undefined. */
  retryAfterSeconds: number | undefined;
  /** How long a hanging Connect keeps the request open after creating the call. */
  hangMs: number;
  callbacks: { drop: number; duplicate: number; delayMs: number };
  /** A vendor who hangs up with their last keys: how long after the final status the keys' request comes. */
  lateKeysDelayMs: number;
  /**
   * How the plain RecordingUrl is fetched: with the API's Basic auth, or (as an S3 bucket answers a header it
   * does not know) refused, so only Call Details' PreSignedRecordingUrl plays (reference §2).
   */
  recordings: 'basic-auth' | 'presigned-only';
  seed: number;
}

export const NO_FAULTS: SimulatorFaults = {
  connect: [],
  connectRates: { error500: 0, rateLimited: 0, hang: 0 },
  list: [],
  listDelayMs: 0,
  retryAfterSeconds: undefined,
  hangMs: 30_000,
  callbacks: { drop: 0, duplicate: 0, delayMs: 0 },
  lateKeysDelayMs: 0,
  recordings: 'basic-auth',
  seed: 1,
};

export interface SimulatorOptions {
  account: SimulatorAccount;
  host?: string;
  port?: number;
  /** How long the phone rings before the vendor answers (or the call fails). */
  ringDelayMs?: number;
  /** The simulated Exotel's clock (its DateCreated and DateUpdated): the server's, when a test moves it. */
  now?: () => Date;
  logger?: FastifyBaseLogger;
}

// A stand-in for an MP3 recording that a browser can play: an ID3 header, then about a second of silent
// MPEG-1 Layer III frames (header FF FB 90 00: 128 kbit/s, 44.1 kHz; 417 bytes each, all-zero side info).
const SILENT_FRAME = Buffer.concat([Buffer.from([0xff, 0xfb, 0x90, 0x00]), Buffer.alloc(413, 0)]);
const FAKE_RECORDING = Buffer.concat([Buffer.from('ID3\x03\x00\x00\x00\x00\x00\x00', 'binary'), ...Array.from({ length: 40 }, () => SILENT_FRAME)]);

// The Url that runs a dashboard flow (reference §1.1).
const DASHBOARD_FLOW = /^https?:\/\/my\.exotel\.com\/([^/]+)\/exoml\/start_voice\/([^/?#]+)/;

export class ExotelSimulator {
  readonly calls = new Map<string, SimulatedCall>();
  /** When each Connect request arrived (real time), to check the caller's rate limit. */
  readonly connectTimes: number[] = [];
  faults: SimulatorFaults = { ...NO_FAULTS };
  /** Every fault injected, in order, so a test can show the faults did happen. */
  readonly injected: string[] = [];
  /** The CallSid of every Call Details request, in order: what the Exotel allowance was spent on. */
  readonly detailsAsked: string[] = [];
  private random = seeded(1);
  private readonly now: () => Date;
  /** Flows built in the simulated dashboard, by app id (applet mode). */
  readonly dashboardFlows = new Map<string, DashboardFlow | VoicebotFlow>();
  /** Streams driven by a test (a Voicebot flow installed `byHand`), by CallSid. */
  private readonly handStreams = new Map<string, StreamPeer>();
  private readonly app: FastifyInstance;
  private baseUrl = '';

  constructor(private readonly options: SimulatorOptions) {
    this.now = options.now ?? (() => new Date());
    this.app = Fastify({ logger: false, forceCloseConnections: true });
    // Raw form bodies: Exotel rejects percent-encoded bracket keys (reference §1.7), so must we.
    this.app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => done(null, body));
    this.app.post('/v1/Accounts/:account/Calls/:action', (req, reply) => this.connect(req, reply));
    this.app.get('/v1/Accounts/:account/Calls/:sid', (req, reply) => this.details(req, reply));
    this.app.get('/v1/Accounts/:account/Calls.json', (req, reply) => this.list(req, reply));
    this.app.get('/recordings/:account/:file', (req, reply) => this.recording(req, reply));
  }

  get url(): string {
    return this.baseUrl;
  }

  async start(): Promise<string> {
    const address = await this.app.listen({ host: this.options.host ?? '127.0.0.1', port: this.options.port ?? 0 });
    this.baseUrl = address.replace('[::1]', '127.0.0.1');
    return this.baseUrl;
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.calls.values()].map((call) => call.done));
    await this.app.close();
  }

  /** Sets the faults to inject from now on (merged over none). */
  setFaults(faults: Partial<SimulatorFaults>): void {
    this.faults = { ...NO_FAULTS, ...faults };
    this.random = seeded(this.faults.seed);
  }

  /** Refuses connections (the port closed, open connections dropped) for `ms`, then listens again. */
  async refuseConnectionsFor(ms: number): Promise<void> {
    const server = this.app.server;
    const { port, address } = server.address() as { port: number; address: string };
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    setTimeout(() => server.listen(port, address), ms).unref();
  }

  /** Builds a flow in the simulated dashboard, as an operator would from the README's recipe. */
  installFlow(appId: string, flow: Partial<DashboardFlow> & Pick<DashboardFlow, 'gatherUrl' | 'passthruUrl' | 'greetingUrl'>): void {
    this.dashboardFlows.set(appId, { pairs: 'loop', endPassthru: true, dropQueryStrings: true, ...flow });
  }

  /** The README's recipe, [Gather] → [Passthru] (200: back, 302: on) → [Greeting] → [Hangup], at these URLs. */
  installRecipe(appId: string, appletUrl: (applet: 'gather' | 'passthru' | 'greeting' | 'connect') => string, options: Partial<DashboardFlow> = {}): void {
    this.installFlow(appId, {
      gatherUrl: appletUrl('gather'),
      passthruUrl: appletUrl('passthru'),
      greetingUrl: appletUrl('greeting'),
      connectUrl: appletUrl('connect'),
      ...options,
    });
  }

  /** The flow the README tells an operator to build for this flow mode, at a server's applet URLs. */
  installReadmeFlow(appId: string, flowMode: 'exoml' | 'applet' | 'voicebot', appletUrl: (applet: 'gather' | 'passthru' | 'greeting' | 'connect' | 'voicebot') => string): void {
    if (flowMode !== 'voicebot') return this.installRecipe(appId, appletUrl);
    this.installVoicebotRecipe(appId, { streamUrl: appletUrl('voicebot'), connectUrl: appletUrl('connect'), passthruUrl: appletUrl('passthru') });
  }

  /** The README's Voicebot recipe: [Voicebot (stream URL)] → [Connect] → [Passthru] → [Hangup]. */
  installVoicebotRecipe(appId: string, flow: VoicebotFlow): void {
    this.dashboardFlows.set(appId, flow);
  }

  /** The stream of a call whose Voicebot flow is driven by hand, once Exotel's side has opened it. */
  async streamOf(sid: string): Promise<StreamPeer> {
    for (let i = 0; i < 250; i++) {
      const peer = this.handStreams.get(sid);
      if (peer) return peer;
      await delay(20);
    }
    throw new Error(`no stream opened for ${sid}`);
  }

  /**
   * A call on the account that none of our Connects placed: the vendor ringing an ExoPhone back after a
   * missed call (inbound), someone dialling them from the dashboard (outbound-dial), or another app on the
   * account calling them through the API from its own ExoPhone. It is only listed, as Exotel lists it
   * (reference §2); nothing runs.
   */
  addOtherCall(from: string, direction: SimulatedCall['direction'], exophone: string): SimulatedCall {
    const e164 = normalisePhone(from);
    if (!e164) throw new Error(`not a phone number: ${from}`);
    const call = this.newCall(e164, { callerId: exophone, url: '', statusCallback: undefined, statusCallbackEvents: [], customField: undefined, direction, status: 'completed', durationSeconds: 20 });
    this.calls.set(call.sid, call);
    return call;
  }

  /** A call record with an empty transcript, From in Exotel's 0-prefixed national form (reference §1.9). */
  private newCall(
    e164: string,
    fields: Pick<SimulatedCall, 'callerId' | 'url' | 'statusCallback' | 'statusCallbackEvents' | 'customField' | 'direction' | 'status' | 'durationSeconds'>,
  ): SimulatedCall {
    return {
      sid: `sim${randomBytes(14).toString('hex')}`.slice(0, 32),
      accountSid: this.options.account.accountSid,
      from: `0${e164.slice(3)}`,
      ...fields,
      behaviour: vendorBehaviour(e164),
      dateCreated: this.now(),
      recordingUrl: undefined,
      heard: [],
      dialled: [],
      pressed: [],
      requests: [],
      callbacks: [],
      problem: undefined,
      done: Promise.resolve(),
    };
  }

  /** Resolves when the call has ended and its status callback has been delivered (or given up on). */
  async finished(sid: string): Promise<SimulatedCall> {
    const call = this.calls.get(sid);
    if (!call) throw new Error(`the simulator placed no call ${sid}`);
    await call.done;
    return call;
  }

  private authorised(req: FastifyRequest, reply: FastifyReply): boolean {
    const { account } = req.params as { account: string };
    const expected = Buffer.from(`Basic ${Buffer.from(`${this.options.account.apiKey}:${this.options.account.apiToken}`).toString('base64')}`);
    const given = Buffer.from(req.headers.authorization ?? '');
    const ok = account === this.options.account.accountSid && given.length === expected.length && timingSafeEqual(given, expected);
    if (!ok) void restException(reply, 401, 'Unauthorized; ', 34010);
    return ok;
  }

  private connect(req: FastifyRequest, reply: FastifyReply) {
    if (!this.authorised(req, reply)) return reply;
    const { action } = req.params as { action: string };
    if (action !== 'connect' && action !== 'connect.json') return restException(reply, 404, 'Not Found', 20404);
    const raw = typeof req.body === 'string' ? req.body : '';
    if (/StatusCallbackEvents%5B/i.test(raw)) return restException(reply, 400, "Invalid Call Parameters: Invalid 'StatusCallbackEvents' specified", 34005);
    const form = new URLSearchParams(raw);
    const from = form.get('From') ?? '';
    const e164 = normalisePhone(from);
    if (!e164) return restException(reply, 400, `From number ${from} is invalid`, 34001);
    const callerId = form.get('CallerId') ?? '';
    if (!/^\+?\d{6,15}$/.test(callerId)) return restException(reply, 400, 'CallerId is invalid', 34002);
    const url = form.get('Url') ?? '';
    if (!/^https?:\/\//.test(url)) return restException(reply, 400, 'Url is invalid', 34003);
    const events = [...form.keys()].filter((key) => key.startsWith('StatusCallbackEvents[')).map((key) => form.get(key)!);
    this.connectTimes.push(Date.now());
    const fault = this.nextConnectFault();
    if (fault !== 'ok') this.injected.push(`connect:${fault}`);
    if (fault === '500') return reply.code(500).type('text/plain').send('Internal Server Error');
    if (fault === 'lost') return delay(this.faults.hangMs).then(() => reply.code(500).type('text/plain').send('Internal Server Error'));
    if (fault === '429') {
      if (this.faults.retryAfterSeconds !== undefined) reply.header('retry-after', String(this.faults.retryAfterSeconds));
      return restException(reply, 429, 'Too many requests', 20429);
    }

    const call = this.newCall(e164, {
      callerId,
      url,
      statusCallback: form.get('StatusCallback') ?? undefined,
      statusCallbackEvents: events,
      customField: form.get('CustomField') ?? undefined,
      direction: 'outbound-api',
      status: 'in-progress',
      durationSeconds: 0,
    });
    call.done = delay(this.options.ringDelayMs ?? 0).then(() => this.run(call));
    this.calls.set(call.sid, call);
    const body = { Call: this.callResource(call) };
    // The call exists and rings; the answer never comes in time (reference §1.7: a timeout may have rung).
    if (fault === 'hang') return delay(this.faults.hangMs).then(() => reply.send(body));
    if (fault === 'placed-502') return reply.code(502).type('text/html').send('<html><body>502 Bad Gateway</body></html>');
    return action.endsWith('.json') ? reply.send(body) : reply.type('application/xml').send(callXml(body.Call));
  }

  private nextConnectFault(): SimulatorFaults['connect'][number] {
    const queued = this.faults.connect.shift();
    if (queued) return queued;
    const { error500, rateLimited, hang } = this.faults.connectRates;
    const r = this.random();
    if (r < error500) return '500';
    if (r < error500 + rateLimited) return '429';
    if (r < error500 + rateLimited + hang) return 'hang';
    return 'ok';
  }

  /** The bulk Calls list, filtered by From (E.164) and DateCreated=gte:…;lte:… in IST (reference §2). */
  private async list(req: FastifyRequest, reply: FastifyReply) {
    if (!this.authorised(req, reply)) return reply;
    if (this.faults.listDelayMs > 0) await delay(this.faults.listDelayMs);
    if (this.faults.list.shift() === '503') {
      this.injected.push('list:503');
      return reply.code(503).type('text/plain').send('Service Unavailable');
    }
    const query = req.query as Record<string, string | undefined>;
    const from = query.From ? normalisePhone(query.From) : undefined;
    const range = /gte:([^;]+);lte:(.+)/.exec(query.DateCreated ?? '');
    const gte = range ? fromIst(range[1]!) : -Infinity;
    const lte = range ? fromIst(range[2]!) : Infinity;
    const calls = [...this.calls.values()]
      .filter((call) => (!from || normalisePhone(call.from) === from) && call.dateCreated.getTime() >= gte - 999 && call.dateCreated.getTime() <= lte + 999)
      .sort((a, b) => a.dateCreated.getTime() - b.dateCreated.getTime())
      .slice(0, Number(query.PageSize ?? 50));
    return reply.send({ Metadata: { Total: calls.length, PageSize: calls.length }, Calls: calls.map((call) => this.callResource(call)) });
  }

  private details(req: FastifyRequest, reply: FastifyReply) {
    if (!this.authorised(req, reply)) return reply;
    const sid = (req.params as { sid: string }).sid.replace(/\.json$/, '');
    this.detailsAsked.push(sid);
    const call = this.calls.get(sid);
    if (!call) return restException(reply, 404, `Call ${sid} not found`, 20404);
    // RecordingUrlValidity (5 to 60 minutes) adds PreSignedRecordingUrl, fetched with no credentials (§2).
    const validity = (req.query as Record<string, string | undefined>).RecordingUrlValidity;
    if (validity !== undefined && !(/^\d+$/.test(validity) && Number(validity) >= 5 && Number(validity) <= 60)) {
      return restException(reply, 400, 'RecordingUrlValidity must be between 5 and 60', 14001);
    }
    const resource = this.callResource(call);
    if (validity !== undefined && call.recordingUrl) resource.PreSignedRecordingUrl = `${call.recordingUrl}?X-Amz-Signature=${this.presign(call.sid)}`;
    return reply.send({ Call: resource });
  }

  private recording(req: FastifyRequest, reply: FastifyReply) {
    const sid = (req.params as { file: string }).file.replace(/\.mp3$/, '');
    const signature = (req.query as Record<string, string | undefined>)['X-Amz-Signature'];
    if (signature !== undefined) {
      if (signature !== this.presign(sid) || req.headers.authorization) return reply.code(403).type('application/xml').send('<Error><Code>AccessDenied</Code></Error>');
    } else if (this.faults.recordings === 'presigned-only') {
      // As S3 answers an Authorization header that is not its own.
      const code = req.headers.authorization ? 400 : 403;
      return reply.code(code).type('application/xml').send(`<Error><Code>${code === 400 ? 'InvalidArgument' : 'AccessDenied'}</Code></Error>`);
    } else if (!this.authorised(req, reply)) {
      return reply;
    }
    if (!this.calls.get(sid)?.recordingUrl) return reply.code(404).send('not found');
    reply.header('accept-ranges', 'bytes').type('audio/mpeg');
    // One byte range, as a browser's <audio> asks for it (bytes=a-b, bytes=a-, bytes=-n).
    // A header that is not one such range (several, reversed, malformed) is ignored, as RFC 9110 §14.2 allows.
    const range = /^bytes=(\d*)-(\d*)$/.exec(String(req.headers.range ?? ''));
    const size = FAKE_RECORDING.length;
    if (!range || (range[1] === '' && range[2] === '') || (range[1] !== '' && range[2] !== '' && Number(range[2]) < Number(range[1]))) return reply.send(FAKE_RECORDING);
    // A suffix longer than the file is the whole file (§14.1.1).
    const [start, end] = range[1] === '' ? [Math.max(0, size - Number(range[2])), size - 1] : [Number(range[1]), range[2] === '' ? size - 1 : Math.min(Number(range[2]), size - 1)];
    if (!(start <= end && start < size)) return reply.code(416).header('content-range', `bytes */${size}`).send();
    return reply.code(206).header('content-range', `bytes ${start}-${end}/${size}`).send(FAKE_RECORDING.subarray(start, end + 1));
  }

  /** A pre-signed URL's signature: only this simulator's own, for that recording. */
  private presign(sid: string): string {
    return createHash('sha256').update(`${this.options.account.apiToken}:${sid}`).digest('hex').slice(0, 32);
  }

  private callResource(call: SimulatedCall): Record<string, unknown> {
    const ended = call.status !== 'in-progress';
    return {
      Sid: call.sid,
      ParentCallSid: null,
      DateCreated: istStamp(call.dateCreated),
      DateUpdated: istStamp(this.now()),
      AccountSid: call.accountSid,
      To: null,
      From: call.from,
      PhoneNumberSid: call.callerId,
      Status: call.status,
      StartTime: istStamp(call.dateCreated),
      EndTime: ended ? istStamp(new Date(call.dateCreated.getTime() + call.durationSeconds * 1000)) : null,
      Duration: ended ? String(call.durationSeconds) : null,
      Price: ended ? '0.500' : null,
      Direction: call.direction,
      AnsweredBy: null,
      ForwardedFrom: null,
      CallerName: null,
      Uri: `/v1/Accounts/${call.accountSid}/Calls/${call.sid}.json`,
      RecordingUrl: call.recordingUrl ?? null,
    };
  }

  private async run(call: SimulatedCall): Promise<void> {
    const behaviour = call.behaviour;
    const answered = () => {
      call.status = 'completed';
      call.durationSeconds = Math.max(3, call.heard.length * 4);
      call.recordingUrl = `${this.baseUrl}/recordings/${call.accountSid}/${call.sid}.mp3`;
    };
    let reported = false;
    const report = async () => {
      if (reported) return;
      reported = true;
      this.options.logger?.info(
        { component: 'exotel-simulator', call_sid: call.sid, status: call.status, pressed: call.pressed, problem: call.problem },
        `Simulated call ended: vendor ${call.behaviour.description}`,
      );
      await this.sendStatusCallback(call);
    };
    // A vendor who hangs up as they press their last keys: the final status goes out first, then the keys.
    const hangUp = async () => {
      answered();
      await report();
      if (this.faults.lateKeysDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.faults.lateKeysDelayMs));
    };
    const dashboard = DASHBOARD_FLOW.exec(call.url);
    const flow = dashboard && dashboard[1] === call.accountSid ? this.dashboardFlows.get(dashboard[2]!) : undefined;
    if (dashboard && !flow) {
      // Exotel cannot run a flow that is not in this account's dashboard.
      call.problem = `no dashboard flow ${dashboard[2]} in account ${dashboard[1]}`;
      call.status = 'failed';
    } else if (behaviour.answers) {
      if (flow && 'streamUrl' in flow) {
        await playVoicebotCall(call, flow, dashboard![2]!, async (peer) => {
          this.handStreams.set(call.sid, peer);
          await peer.closed();
        });
      } else if (flow) await playAppletCall(call, flow, dashboard![2]!, hangUp);
      else
        await playExomlCall(
          call,
          {
            CallSid: call.sid,
            CallFrom: call.from,
            CallTo: call.callerId,
            Direction: 'outbound-api',
            CallStatus: 'in-progress',
            ...(call.customField === undefined ? {} : { CustomField: call.customField }),
          },
          hangUp,
        );
      if (!reported) answered();
    } else {
      call.status = behaviour.status;
    }
    await report();
  }

  /** Multipart, as Exotel sends it by default; the extended fields only when `terminal` was asked for (§3.3). */
  private async sendStatusCallback(call: SimulatedCall): Promise<void> {
    if (!call.statusCallback) return;
    const params: Record<string, string> = {
      CallSid: call.sid,
      Status: call.status,
      RecordingUrl: call.recordingUrl ?? '',
      DateUpdated: istStamp(this.now()),
    };
    if (call.statusCallbackEvents.includes('terminal')) {
      Object.assign(params, {
        EventType: 'terminal',
        ConversationDuration: String(call.durationSeconds),
        From: call.from,
        To: call.callerId,
        Direction: 'outbound-api',
        StartTime: istStamp(call.dateCreated),
        EndTime: istStamp(this.now()),
        CustomField: call.customField ?? '',
        'Legs[0][Status]': call.status,
        'Legs[0][OnCallDuration]': String(call.durationSeconds),
      });
    }
    const { drop, duplicate, delayMs } = this.faults.callbacks;
    if (this.random() < drop) {
      this.injected.push('callback:dropped');
      return void call.callbacks.push({ status: 'dropped', params });
    }
    if (delayMs > 0) await delay(delayMs);
    const copies = this.random() < duplicate ? 2 : 1;
    if (copies === 2) this.injected.push('callback:duplicated');
    for (let copy = 0; copy < copies; copy++) await this.postCallback(call, params);
  }

  private async postCallback(call: SimulatedCall, params: Record<string, string>): Promise<void> {
    // Exotel retries a callback that failed, twice (reference §3.1).
    for (let attempt = 0; attempt < 3; attempt++) {
      const form = new FormData();
      for (const [key, value] of Object.entries(params)) form.append(key, value);
      try {
        const response = await request(call.statusCallback!, { method: 'POST', body: form, headersTimeout: 15_000 });
        await response.body.dump();
        call.callbacks.push({ status: response.statusCode, params });
        if (response.statusCode >= 200 && response.statusCode < 300) return;
      } catch {
        call.callbacks.push({ status: 'unreachable', params });
      }
      await delay(100);
    }
  }
}

function restException(reply: FastifyReply, status: number, message: string, code: number) {
  return reply.code(status).send({ RestException: { Status: status, Message: message, Code: code } });
}

/** Exotel's XML answer (`<TwilioResponse><Call>…`, reference §1.6), built with xmlbuilder2, which escapes. */
function callXml(call: Record<string, unknown>): string {
  const node = create({ version: '1.0', encoding: 'UTF-8' }).ele('TwilioResponse').ele('Call');
  for (const [key, value] of Object.entries(call)) node.ele(key).txt(value === null ? '' : String(value));
  return node.end({ prettyPrint: false });
}

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Exotel's IST wall-clock time as an instant (ms). */
function fromIst(text: string): number {
  const match = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$/.exec(text.trim());
  if (!match) return NaN;
  const [, y, mo, d, h, mi, s] = match.map(Number) as number[];
  return Date.UTC(y!, mo! - 1, d!, h!, mi!, s!) - 330 * 60_000;
}

/** A small seeded generator (mulberry32): the same seed, the same faults. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

export async function startSimulator(options: SimulatorOptions): Promise<ExotelSimulator> {
  const simulator = new ExotelSimulator(options);
  await simulator.start();
  return simulator;
}
