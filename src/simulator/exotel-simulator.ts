// A fake Exotel on loopback: the Connect API and Call Details with Basic auth (reference §1, §2), a runner
// that plays each call against our server, and the status callback as multipart/form-data (§3). The
// server's real HTTP client talks to it exactly as it would to api.exotel.com.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { FormData, request } from 'undici';
import { normalisePhone } from '../phone.js';
import { playAppletCall, type DashboardFlow } from './applet-call.js';
import { playExomlCall } from './exoml-call.js';
import { istStamp, type SimulatedCall } from './simulated-call.js';
import { vendorBehaviour } from './vendors.js';

export interface SimulatorAccount { accountSid: string; apiKey: string; apiToken: string }

export interface SimulatorOptions {
  account: SimulatorAccount;
  host?: string;
  port?: number;
  /** How long the phone rings before the vendor answers (or the call fails). */
  ringDelayMs?: number;
  logger?: FastifyBaseLogger;
}

// A tiny stand-in for an MP3 recording: an ID3 header and a few silent frames' worth of bytes.
const FAKE_RECORDING = Buffer.concat([Buffer.from('ID3\x03\x00\x00\x00\x00\x00\x00', 'binary'), Buffer.alloc(417, 0)]);

// The Url that runs a dashboard flow (reference §1.1).
const DASHBOARD_FLOW = /^https?:\/\/my\.exotel\.com\/([^/]+)\/exoml\/start_voice\/([^/?#]+)/;

export class ExotelSimulator {
  readonly calls = new Map<string, SimulatedCall>();
  /** Flows built in the simulated dashboard, by app id (applet mode). */
  readonly dashboardFlows = new Map<string, DashboardFlow>();
  private readonly app: FastifyInstance;
  private baseUrl = '';

  constructor(private readonly options: SimulatorOptions) {
    this.app = Fastify({ logger: false });
    // Raw form bodies: Exotel rejects percent-encoded bracket keys (reference §1.7), so must we.
    this.app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => done(null, body));
    this.app.post('/v1/Accounts/:account/Calls/:action', (req, reply) => this.connect(req, reply));
    this.app.get('/v1/Accounts/:account/Calls/:sid', (req, reply) => this.details(req, reply));
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

  /** Builds a flow in the simulated dashboard, as an operator would from the README's recipe. */
  installFlow(appId: string, flow: Partial<DashboardFlow> & Pick<DashboardFlow, 'gatherUrl' | 'passthruUrl' | 'greetingUrl'>): void {
    this.dashboardFlows.set(appId, { pairs: 'loop', endPassthru: true, dropQueryStrings: true, ...flow });
  }

  /** The README's recipe, [Gather] → [Passthru] (200: back, 302: on) → [Greeting] → [Hangup], at these URLs. */
  installRecipe(appId: string, appletUrl: (applet: 'gather' | 'passthru' | 'greeting') => string, options: Partial<DashboardFlow> = {}): void {
    this.installFlow(appId, { gatherUrl: appletUrl('gather'), passthruUrl: appletUrl('passthru'), greetingUrl: appletUrl('greeting'), ...options });
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

    const sid = `sim${randomBytes(14).toString('hex')}`.slice(0, 32);
    const call: SimulatedCall = {
      sid,
      accountSid: this.options.account.accountSid,
      from: `0${e164.slice(3)}`,
      callerId,
      url,
      statusCallback: form.get('StatusCallback') ?? undefined,
      statusCallbackEvents: events,
      customField: form.get('CustomField') ?? undefined,
      behaviour: vendorBehaviour(e164),
      dateCreated: new Date(),
      status: 'in-progress',
      durationSeconds: 0,
      recordingUrl: undefined,
      heard: [],
      pressed: [],
      requests: [],
      callbacks: [],
      problem: undefined,
      done: Promise.resolve(),
    };
    call.done = delay(this.options.ringDelayMs ?? 0).then(() => this.run(call));
    this.calls.set(sid, call);
    const body = { Call: this.callResource(call) };
    return action.endsWith('.json') ? reply.send(body) : reply.type('application/xml').send(callXml(body.Call));
  }

  private details(req: FastifyRequest, reply: FastifyReply) {
    if (!this.authorised(req, reply)) return reply;
    const sid = (req.params as { sid: string }).sid.replace(/\.json$/, '');
    const call = this.calls.get(sid);
    if (!call) return restException(reply, 404, `Call ${sid} not found`, 20404);
    return reply.send({ Call: this.callResource(call) });
  }

  private recording(req: FastifyRequest, reply: FastifyReply) {
    if (!this.authorised(req, reply)) return reply;
    const sid = (req.params as { file: string }).file.replace(/\.mp3$/, '');
    if (!this.calls.get(sid)?.recordingUrl) return reply.code(404).send('not found');
    return reply.type('audio/mpeg').send(FAKE_RECORDING);
  }

  private callResource(call: SimulatedCall): Record<string, unknown> {
    const ended = call.status !== 'in-progress';
    return {
      Sid: call.sid,
      ParentCallSid: null,
      DateCreated: istStamp(call.dateCreated),
      DateUpdated: istStamp(new Date()),
      AccountSid: call.accountSid,
      To: null,
      From: call.from,
      PhoneNumberSid: call.callerId,
      Status: call.status,
      StartTime: istStamp(call.dateCreated),
      EndTime: ended ? istStamp(new Date(call.dateCreated.getTime() + call.durationSeconds * 1000)) : null,
      Duration: ended ? String(call.durationSeconds) : null,
      Price: ended ? '0.500' : null,
      Direction: 'outbound-api',
      AnsweredBy: null,
      ForwardedFrom: null,
      CallerName: null,
      Uri: `/v1/Accounts/${call.accountSid}/Calls/${call.sid}.json`,
      RecordingUrl: call.recordingUrl ?? null,
    };
  }

  private async run(call: SimulatedCall): Promise<void> {
    const behaviour = call.behaviour;
    const dashboard = DASHBOARD_FLOW.exec(call.url);
    const flow = dashboard && dashboard[1] === call.accountSid ? this.dashboardFlows.get(dashboard[2]!) : undefined;
    if (dashboard && !flow) {
      // Exotel cannot run a flow that is not in this account's dashboard.
      call.problem = `no dashboard flow ${dashboard[2]} in account ${dashboard[1]}`;
      call.status = 'failed';
    } else if (behaviour.answers) {
      if (flow) await playAppletCall(call, flow, dashboard![2]!);
      else
        await playExomlCall(call, {
          CallSid: call.sid,
          CallFrom: call.from,
          CallTo: call.callerId,
          Direction: 'outbound-api',
          CallStatus: 'in-progress',
          ...(call.customField === undefined ? {} : { CustomField: call.customField }),
        });
      call.status = 'completed';
      call.durationSeconds = Math.max(3, call.heard.length * 4);
      call.recordingUrl = `${this.baseUrl}/recordings/${call.accountSid}/${call.sid}.mp3`;
    } else {
      call.status = behaviour.status;
    }
    this.options.logger?.info(
      { component: 'exotel-simulator', call_sid: call.sid, status: call.status, pressed: call.pressed, problem: call.problem },
      `Simulated call ended: vendor ${call.behaviour.description}`,
    );
    await this.sendStatusCallback(call);
  }

  /** Multipart, as Exotel sends it by default; the extended fields only when `terminal` was asked for (§3.3). */
  private async sendStatusCallback(call: SimulatedCall): Promise<void> {
    if (!call.statusCallback) return;
    const params: Record<string, string> = {
      CallSid: call.sid,
      Status: call.status,
      RecordingUrl: call.recordingUrl ?? '',
      DateUpdated: istStamp(new Date()),
      ConversationDuration: String(call.durationSeconds),
    };
    if (call.statusCallbackEvents.includes('terminal')) {
      Object.assign(params, {
        EventType: 'terminal',
        From: call.from,
        To: call.callerId,
        Direction: 'outbound-api',
        StartTime: istStamp(call.dateCreated),
        EndTime: istStamp(new Date()),
        CustomField: call.customField ?? '',
        'Legs[0][Status]': call.status,
        'Legs[0][OnCallDuration]': String(call.durationSeconds),
      });
    }
    // Exotel retries a callback that failed, twice (reference §3.1).
    for (let attempt = 0; attempt < 3; attempt++) {
      const form = new FormData();
      for (const [key, value] of Object.entries(params)) form.append(key, value);
      try {
        const response = await request(call.statusCallback, { method: 'POST', body: form, headersTimeout: 15_000 });
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

function callXml(call: Record<string, unknown>): string {
  const fields = Object.entries(call)
    .map(([key, value]) => `<${key}>${value === null ? '' : String(value).replace(/&/g, '&amp;').replace(/</g, '&lt;')}</${key}>`)
    .join('');
  return `<?xml version="1.0" encoding="UTF-8"?><TwilioResponse><Call>${fields}</Call></TwilioResponse>`;
}

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function startSimulator(options: SimulatorOptions): Promise<ExotelSimulator> {
  const simulator = new ExotelSimulator(options);
  await simulator.start();
  return simulator;
}
