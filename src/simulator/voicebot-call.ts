// Plays a call in voicebot mode as Exotel runs the README's dashboard recipe: [Voicebot] → [Connect] →
// [Passthru] → [Hangup]. The Voicebot applet speaks reference §6 as Exotel does: it connects (after asking
// an HTTPS stream URL endpoint, when configured so), sends `connected`, `start` and the caller's silence
// every 100 ms, plays the audio it receives at real time, echoes each mark once the audio before it has
// played, drops unplayed audio on `clear`, presses the vendor's keys as `dtmf` (after a prompt, or during
// one for a barge-in), and sends `stop` if the vendor hangs up. It measures what it receives: chunk sizes,
// alignment, how far ahead of real time the audio came, marks.
import { WebSocket } from 'undici';
import { withoutQuery } from '../logging.js';
import { istStamp, requestApplet, type SimulatedCall } from './simulated-call.js';
import { agentLegStatus } from './vendors.js';

/** A dashboard flow with a Voicebot applet (reference §6.1). */
export interface VoicebotFlow {
  /** The applet's URL: wss://… (custom parameters in its query), or an https:// endpoint answering {"url": …}. */
  streamUrl: string;
  /** The Connect applet after it (the agent after a transfer, or nobody). */
  connectUrl?: string | undefined;
  /** An async Passthru before the Hangup (hears how the agent leg went). */
  passthruUrl?: string | undefined;
  /** The stream is driven by a test through `streamByHand`, not by the vendor's script. */
  byHand?: boolean;
}

/** What the simulated Exotel received on a stream, for tests to assert. */
export interface StreamReport {
  url: string;
  customParameters: Record<string, string>;
  sampleRate: number;
  /** The size in bytes of every audio chunk received, in order. */
  chunkBytes: number[];
  /** One entry per mark received: how much audio came before it, over how long it was sent, and its fate. */
  prompts: Array<{ mark: string; audioMs: number; sentOverMs: number; echoed: boolean; cleared: boolean; startedAt: number; echoedAt?: number }>;
  /** The furthest the received audio ran ahead of real-time playback. */
  maxLeadMs: number;
  /** The longest silence inside a prompt because its next chunk came late (an underrun). */
  maxGapMs: number;
  clears: number;
  /** How the socket closed: by our server (its code), or by the simulator. */
  closedBy: 'server' | 'simulator' | undefined;
  closeCode: number | undefined;
}

const MEDIA_EVERY_MS = 100;
const KEY_GAP_MS = 60;
// Past this, the audio was dumped rather than streamed: Exotel was seen to hang such calls up (§6.2).
const MAX_LEAD_MS = 1_000;
// A stream lasting longer than this is stuck (no hang-up, no closing).
const MAX_STREAM_MS = 120_000;
const CHUNK_ALIGN = 320;
const MIN_CHUNK = 3_200;
const MAX_CHUNK = 100_000;

/** Exotel's side of one stream: a socket, the playback clock and the vendor's hand on the keypad. */
export class StreamPeer {
  readonly report: StreamReport;
  private socket: WebSocket | undefined;
  private sequence = 0;
  private mediaTimer: NodeJS.Timeout | undefined;
  /** When the audio received so far will have finished playing (ms since epoch). */
  private playhead = 0;
  private pending: Array<{ mark: string; timer: NodeJS.Timeout }> = [];
  private promptStart: { audioMs: number; firstAt: number } | undefined;
  private readonly closedSignal: Promise<void>;
  private resolveClosed!: () => void;
  /** Called when a prompt has fully played (its mark echoed), and when a prompt's first audio arrives. */
  onPlayed: (mark: string) => void = () => {};
  onPromptStarted: () => void = () => {};

  constructor(
    private readonly call: SimulatedCall,
    url: string,
    private readonly sampleRate: number,
    customParameters: Record<string, string>,
  ) {
    this.report = { url, customParameters, sampleRate, chunkBytes: [], prompts: [], maxLeadMs: 0, maxGapMs: 0, clears: 0, closedBy: undefined, closeCode: undefined };
    this.closedSignal = new Promise((resolve) => (this.resolveClosed = resolve));
  }

  get streamSid(): string {
    return `stream-${this.call.sid}`;
  }

  /** Opens the socket and sends `connected` and `start`; resolves once open, or with a problem. */
  async open(authorization: string | undefined): Promise<boolean> {
    const socket = new WebSocket(this.report.url, authorization ? { headers: { authorization } } : undefined);
    this.socket = socket;
    socket.addEventListener('message', (event) => this.receive(String(event.data)));
    socket.addEventListener('close', (event) => {
      clearInterval(this.mediaTimer);
      for (const { timer } of this.pending) clearTimeout(timer);
      this.report.closedBy ??= 'server';
      this.report.closeCode ??= event.code;
      this.resolveClosed();
    });
    const opened = await new Promise<boolean>((resolve) => {
      socket.addEventListener('open', () => resolve(true), { once: true });
      socket.addEventListener('error', () => resolve(false), { once: true });
    });
    if (!opened) {
      this.call.problem = `Voicebot stream ${withoutQuery(this.report.url)} refused the connection`;
      return false;
    }
    this.send({ event: 'connected' });
    this.send({
      event: 'start',
      sequence_number: String(++this.sequence),
      stream_sid: this.streamSid,
      start: {
        stream_sid: this.streamSid,
        call_sid: this.call.sid,
        account_sid: this.call.accountSid,
        from: this.call.from,
        to: this.call.callerId,
        custom_parameters: this.report.customParameters,
        media_format: { encoding: 'base64', sample_rate: String(this.sampleRate), bit_rate: `${(this.sampleRate * 16) / 1000}kbps` },
      },
    });
    // The caller's line: silence every 100 ms; numbers as strings on odd frames, as numbers on even (§6.3).
    let chunk = 0;
    const silence = Buffer.alloc((this.sampleRate / 10) * 2).toString('base64');
    this.mediaTimer = setInterval(() => {
      chunk++;
      const odd = chunk % 2 === 1;
      this.send({
        event: 'media',
        sequence_number: odd ? String(++this.sequence) : ++this.sequence,
        stream_sid: this.streamSid,
        media: { chunk: odd ? String(chunk) : chunk, timestamp: odd ? String(chunk * MEDIA_EVERY_MS) : chunk * MEDIA_EVERY_MS, payload: silence },
      });
    }, MEDIA_EVERY_MS);
    return true;
  }

  /** Presses keys one after another, as `dtmf` events. */
  async press(keys: string): Promise<void> {
    for (const digit of keys) {
      this.send({ event: 'dtmf', sequence_number: ++this.sequence, stream_sid: this.streamSid, dtmf: { digit, duration: '120' } });
      await delay(KEY_GAP_MS);
    }
  }

  /** Sends any frame (tests use it for malformed and hostile ones). */
  sendRaw(text: string): void {
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(text);
  }

  /** The vendor hangs up: `stop` with reason callended, then the socket closes (§6.3). */
  async hangUp(reason: 'callended' | 'stopped' = 'callended', withStop = true): Promise<void> {
    if (this.socket?.readyState !== WebSocket.OPEN) return;
    this.report.closedBy = 'simulator';
    if (withStop) this.send({ event: 'stop', sequence_number: ++this.sequence, stream_sid: this.streamSid, stop: { call_sid: this.call.sid, account_sid: this.call.accountSid, reason } });
    this.socket.close(1000);
    await this.closed();
  }

  closed(): Promise<void> {
    return this.closedSignal;
  }

  private send(message: unknown): void {
    this.sendRaw(JSON.stringify(message));
  }

  private receive(text: string): void {
    let message: Record<string, any>;
    try {
      message = JSON.parse(text) as Record<string, any>;
    } catch {
      return void (this.call.problem ??= 'the server sent a frame that is not JSON');
    }
    const sid = message.stream_sid ?? message.streamSid;
    if (sid !== this.streamSid) return void (this.call.problem ??= `a ${String(message.event)} frame without our stream_sid`);
    const now = Date.now();
    if (message.event === 'media') {
      // Agent-Stream's media fields (reference §6.4): some streams drop without them.
      const missing = ['chunk', 'timestamp', 'sequenceNumber'].filter((key) => typeof message.media?.[key] !== 'string' || message.media[key] === '');
      if (missing.length > 0) this.call.problem ??= `a media frame without ${missing.join(', ')}`;
      const payload = Buffer.from(String(message.media?.payload ?? ''), 'base64');
      const size = payload.length;
      this.report.chunkBytes.push(size);
      if (size % CHUNK_ALIGN !== 0 || size < MIN_CHUNK || size > MAX_CHUNK) {
        this.call.problem ??= `an audio chunk of ${size} bytes (must be a multiple of ${CHUNK_ALIGN}, ${MIN_CHUNK} to ${MAX_CHUNK})`;
      }
      const ms = (size / 2 / this.sampleRate) * 1000;
      if (!this.promptStart) {
        this.promptStart = { audioMs: 0, firstAt: now };
        this.onPromptStarted();
      } else if (now > this.playhead) {
        this.report.maxGapMs = Math.max(this.report.maxGapMs, now - this.playhead);
      }
      this.promptStart.audioMs += ms;
      this.playhead = Math.max(this.playhead, now) + ms;
      const lead = this.playhead - now;
      this.report.maxLeadMs = Math.max(this.report.maxLeadMs, lead);
      if (lead > MAX_LEAD_MS) this.call.problem ??= `audio arrived ${Math.round(lead)} ms ahead of real time: dumped, not streamed`;
    } else if (message.event === 'mark') {
      const mark = String(message.mark?.name ?? '');
      const prompt: StreamReport['prompts'][number] = {
        mark,
        audioMs: this.promptStart?.audioMs ?? 0,
        sentOverMs: this.promptStart ? now - this.promptStart.firstAt : 0,
        echoed: false,
        cleared: false,
        startedAt: this.promptStart?.firstAt ?? now,
      };
      this.report.prompts.push(prompt);
      this.promptStart = undefined;
      // Echoed when the audio before it has played.
      const timer = setTimeout(() => {
        this.pending = this.pending.filter((p) => p.timer !== timer);
        prompt.echoed = true;
        prompt.echoedAt = Date.now();
        this.send({ event: 'mark', sequence_number: ++this.sequence, stream_sid: this.streamSid, mark: { name: mark } });
        this.call.heard.push(`[stream audio ${Math.round(prompt.audioMs)} ms]`);
        this.onPlayed(mark);
      }, Math.max(0, this.playhead - now));
      this.pending.push({ mark, timer });
    } else if (message.event === 'clear') {
      this.report.clears++;
      this.playhead = now;
      for (const { mark, timer } of this.pending) {
        clearTimeout(timer);
        const prompt = this.report.prompts.find((p) => p.mark === mark);
        if (prompt) prompt.cleared = true;
      }
      this.pending = [];
      if (this.promptStart) {
        // The prompt being sent was cut before its mark.
        this.report.prompts.push({ mark: '', audioMs: this.promptStart.audioMs, sentOverMs: now - this.promptStart.firstAt, echoed: false, cleared: true, startedAt: this.promptStart.firstAt });
        this.promptStart = undefined;
      }
      this.call.heard.push('[stream audio cut by a key]');
    } else {
      this.call.problem ??= `an unknown event ${String(message.event)} from the server`;
    }
  }
}

/** The stream URL and its custom parameters (at most 3, 256 characters in all, §6.1), or a problem. */
async function streamTarget(call: SimulatedCall, flow: VoicebotFlow, params: Record<string, string>): Promise<{ url: string; authorization: string | undefined } | string> {
  let url = flow.streamUrl;
  if (/^https?:\/\//.test(url)) {
    const answer = await requestApplet(call, flow.streamUrl, params);
    if (!answer) return call.problem ?? 'no stream URL';
    try {
      url = String((JSON.parse(answer.body) as { url?: unknown }).url ?? '');
    } catch {
      return `${withoutQuery(flow.streamUrl)} did not answer JSON`;
    }
  }
  if (!/^wss?:\/\//.test(url)) return `stream URL ${withoutQuery(url)} is not ws:// or wss://`;
  const parsed = new URL(url);
  // Basic auth written into the URL is sent as a header (§6.1).
  const authorization = parsed.username ? `Basic ${Buffer.from(`${decodeURIComponent(parsed.username)}:${decodeURIComponent(parsed.password)}`).toString('base64')}` : undefined;
  parsed.username = '';
  parsed.password = '';
  return { url: parsed.toString(), authorization };
}

export async function playVoicebotCall(call: SimulatedCall, flow: VoicebotFlow, appId: string, byHand: (peer: StreamPeer) => Promise<void>): Promise<void> {
  if (!call.behaviour.answers) return;
  const params: Record<string, string> = {
    CallSid: call.sid,
    CallFrom: call.from,
    CallTo: call.callerId,
    Direction: 'outbound-dial',
    Created: istStamp(call.dateCreated),
    flow_id: appId,
    ...(call.customField === undefined ? {} : { CustomField: call.customField }),
  };
  const target = await streamTarget(call, flow, params);
  if (typeof target === 'string') return void (call.problem = `Voicebot applet: ${target}`);
  const query = new URL(target.url).searchParams;
  const sampleRate = Number(query.get('sample-rate') ?? 8_000);
  const custom = Object.fromEntries([...query.entries()].filter(([key]) => key !== 'sample-rate'));
  if (Object.keys(custom).length > 3 || new URLSearchParams(custom).toString().length > 256) {
    return void (call.problem = 'Voicebot applet: more than 3 custom parameters or 256 characters');
  }
  const peer = new StreamPeer(call, target.url, sampleRate, custom);
  call.stream = peer.report;
  if (!(await peer.open(target.authorization))) return;
  const stuck = setTimeout(() => {
    call.problem ??= `the stream lasted more than ${MAX_STREAM_MS / 1000} s`;
    void peer.hangUp();
  }, MAX_STREAM_MS);
  try {
    if (flow.byHand) await byHand(peer);
    else await followScript(call, peer);
    await peer.closed();
  } finally {
    clearTimeout(stuck);
  }
  if (peer.report.closedBy === 'simulator') return; // the vendor hung up: nothing after the stream runs
  // The stream closed: the flow goes on to its next applet (§6.1).
  let agentLeg: Record<string, string> = {};
  if (flow.connectUrl) {
    const connect = await getJson(call, flow.connectUrl, params);
    const numbers = (connect as { destination?: { numbers?: unknown } } | undefined)?.destination?.numbers;
    const agent = Array.isArray(numbers) && typeof numbers[0] === 'string' ? numbers[0] : undefined;
    if (agent) {
      const status = agentLegStatus(agent);
      call.dialled.push({ number: agent, status });
      agentLeg = { CallType: status === 'completed' ? 'completed' : 'incomplete', DialWhomNumber: agent, DialCallDuration: status === 'completed' ? '30' : '0' };
    }
  }
  if (flow.passthruUrl) await getJson(call, flow.passthruUrl, { ...params, ...agentLeg }, [200, 302]);
}

/** The vendor's script: keys after each prompt has played, or during the first one (barge-in). */
async function followScript(call: SimulatedCall, peer: StreamPeer): Promise<void> {
  const behaviour = call.behaviour;
  if (!behaviour.answers) return;
  const presses = [...behaviour.presses];
  const pressNext = () => {
    if (presses.length === 0) return;
    const keys = presses.shift()!;
    call.pressed.push(keys);
    // Several keys end with # (a number); one key is a menu choice.
    if (keys !== null) void peer.press(keys.length > 1 ? `${keys}#` : keys);
  };
  if (behaviour.bargeIn) {
    let first = true;
    peer.onPromptStarted = () => {
      if (!first) return;
      first = false;
      setTimeout(pressNext, 250);
    };
  }
  peer.onPlayed = () => setTimeout(pressNext, 100);
}

async function getJson(call: SimulatedCall, url: string, params: Record<string, string>, accept = [200]): Promise<unknown> {
  const answer = await requestApplet(call, url, params, { accept });
  return answer?.status === 200 && answer.body.startsWith('{') ? JSON.parse(answer.body) : undefined;
}

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
