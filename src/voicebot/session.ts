// One Voicebot stream (reference §6): Exotel streams the call to us over a WebSocket and plays the audio we
// send. This is the transport's live half: it plays each of the engine's replies as paced audio, turns key
// presses into the engine's input (barge-in, multi-digit answers ending on # or a pause), waits for keys
// after a prompt has played, and ends the conversation when the stream ends. The turn itself is the same
// `takeTurn` every transport uses, so outcomes, events and delivery are identical.
import type { FastifyBaseLogger } from 'fastify';
import { bytesPerSecond, encodeFor, type MediaFormat } from '../audio/pcm.js';
import { pressedMessage, takeTurn } from '../calls/conversation.js';
import { isFinalStatus } from '../exotel/inbound.js';
import { replyPrompts, type PromptContext } from '../flows/prompts.js';
import { flowNamed } from '../flows/registry.js';
import type { EngineOptions, Flow, FlowState, Input, Language, Reply } from '../flows/types.js';
import type { CallRecord, CallStore } from '../store/calls.js';
import { chunkBytes, chunks, clearMessage, markMessage, mediaMessage, readStreamMessage, type StreamMessage } from '../transports/voicebot.js';

export const ROUTE = '/voicebot';

/** The socket, as far as a session uses it. */
export interface StreamSocket {
  send(text: string): void;
  close(code: number, reason: string): void;
}

/** 8 kHz PCM16 for a passage of prompts (the clip library), or undefined when no recording can say it. */
export type Speaker = (flow: Flow, language: Language, names: string[], context: PromptContext) => Buffer | undefined;

export interface SessionDeps {
  store: CallStore;
  log: FastifyBaseLogger;
  speak: Speaker;
  options: EngineOptions;
  /** The open stream of each call: at most one per call. */
  live: Map<string, VoicebotSession>;
  /** What the apology is said in when the call is unknown. */
  defaultLanguage: Language;
  /** The flow whose apology an unknown call hears. */
  fallbackFlow: Flow;
  /** Multiplies the waits for keys (1 in service; tests shorten them). */
  waitScale: number;
}

/** What the socket's own URL said (our stream URL's query), for when `start` leaves it out. */
export interface StreamUrl {
  /** Our call id, as the stream URL we answered carried it (reference §6.1). */
  callId?: string | undefined;
  /** The sample rate the URL asked for: the audio's rate when `start.media_format` names none. */
  sampleRate: MediaFormat['sampleRate'];
}

// Sent ahead of real time, so a late timer never leaves a gap; more was seen to hang calls up (§6.2).
const LEAD_CHUNKS = 2;
// Exotel echoes our mark once the audio before it has played; if it never does, we go on this much later.
const MARK_GRACE_MS = 2_000;
// Exotel sends `start` right after connecting; a socket that never does is not a call.
const START_TIMEOUT_MS = 10_000;
// Unreadable frames are logged once, then every this many (a flood must not flood the journal).
const LOG_EVERY = 500;

interface Playback {
  mark: string;
  timer: NodeJS.Timeout | undefined;
  then: () => void;
}

export class VoicebotSession {
  private phase: 'waiting' | 'live' | 'hanging_up' | 'ended' = 'waiting';
  private streamSid = '';
  private callSid: string | undefined;
  private format: MediaFormat = { encoding: 'pcm16', sampleRate: 8_000 };
  private call: { id: string; flow: Flow } | undefined;
  /** What we said last: a question keys may answer, or the end. */
  private reply: Reply | undefined;
  private keys = '';
  /** A bare # was pressed at this question: the vendor is there, so its wait ends as a press, not a silence. */
  private pressedBare = false;
  private playback: Playback | undefined;
  private waitTimer: NodeJS.Timeout | undefined;
  private readonly startTimer: NodeJS.Timeout;
  private chunk = 0;
  private audioMs = 0;
  private marks = 0;
  private unreadable = 0;
  private log: FastifyBaseLogger;

  constructor(
    private readonly socket: StreamSocket,
    private readonly deps: SessionDeps,
    private readonly url: StreamUrl = { sampleRate: 8_000 },
  ) {
    this.log = deps.log;
    this.startTimer = setTimeout(() => {
      if (this.phase !== 'waiting') return;
      this.log.warn('Voicebot stream sent no start: closing it');
      this.hangUp(1008, 'no start event');
    }, START_TIMEOUT_MS);
  }

  /** A text frame from Exotel. Never throws: a broken frame is logged, a broken turn ends the call politely. */
  receive(text: string): void {
    if (this.phase === 'ended') return;
    const message = readStreamMessage(text);
    if ('error' in message) {
      if (this.unreadable++ % LOG_EVERY === 0) this.log.warn({ problem: message.error, unreadable: this.unreadable }, 'unreadable Voicebot frame ignored');
      return;
    }
    try {
      this.handle(message);
    } catch (error) {
      this.fail(error);
    }
  }

  /** The socket closed, with or without a `stop` before it: either way the call is over for us. */
  closed(code: number): void {
    if (this.phase === 'ended') return;
    const expected = this.phase === 'hanging_up';
    if (!expected && this.call) this.record('voicebot_stream_closed', { code: String(code) });
    this.end(expected ? 'we hung up' : 'the socket closed without stop');
  }

  /**
   * The server is stopping and this stream outlived the wait for it: closed (1001) without deciding anything
   * for the vendor. The conversation stays open, so Exotel's status settles the call as in every mode.
   */
  shutDown(): void {
    if (this.phase === 'ended') return;
    if (this.call) this.record('voicebot_stream_closed', { reason: 'server_shutdown' });
    this.end('server shutdown', false);
    this.socket.close(1001, 'server shutting down');
  }

  private handle(message: StreamMessage): void {
    switch (message.event) {
      case 'start':
        return this.begin(message);
      case 'dtmf':
        return this.press(message.digit);
      case 'mark':
        if (this.playback?.mark === message.name) this.finished(message.name);
        return;
      case 'stop':
        if (this.call) this.record('voicebot_stream_stopped', { reason: message.reason ?? '' });
        this.end(`stop (${message.reason ?? 'no reason'})`);
        return this.socket.close(1000, 'stopped');
      case 'other':
        this.log.debug({ event: message.name }, 'unknown Voicebot event ignored');
        return;
      default:
        // connected; the caller's media (keys are all we listen to).
        return;
    }
  }

  private begin(start: Extract<StreamMessage, { event: 'start' }>): void {
    if (this.phase !== 'waiting') return void this.log.warn('second start on one Voicebot stream ignored');
    clearTimeout(this.startTimer);
    this.phase = 'live';
    this.streamSid = start.streamSid;
    this.callSid = start.callSid;
    // A start that names no rate plays at the rate our stream URL asked for.
    this.format = { encoding: start.format.encoding, sampleRate: start.format.sampleRate ?? this.url.sampleRate };
    const { store } = this.deps;
    // By Exotel's CallSid; before our Connect answer stored it, by the call id our stream URL carried (§6.1):
    // in the custom parameters, or in the socket's own URL if Exotel did not copy it there.
    const call = store.byExotelRequest(start.callSid, start.customParameters.call_id ?? this.url.callId);
    const flow = call && flowNamed(call.flow);
    this.log = this.deps.log.child({ stream_sid: start.streamSid, call_sid: start.callSid, ...(call ? { call_id: call.id, order_id: call.orderId } : {}) });
    // At most 3 custom parameters of 256 characters (§6.1); ours after them, so none can pose as ours.
    const customKept = Object.fromEntries(Object.entries(start.customParameters).slice(0, 3).map(([k, v]) => [k.slice(0, 64), v.slice(0, 256)]));
    const params = { ...customKept, stream_sid: start.streamSid, call_sid: start.callSid ?? '', encoding: this.format.encoding, sample_rate: String(this.format.sampleRate) };
    if (!call || !flow || call.transport !== 'voicebot') {
      store.recordEvent({ callId: null, kind: 'voicebot_unknown_call', route: ROUTE, params });
      this.log.warn('Voicebot stream for an unknown call: apologising and hanging up');
      const apology: Reply = { kind: 'end', outcome: 'no_response', say: [this.deps.fallbackFlow.apology] };
      return this.present(apology, this.deps.fallbackFlow, this.deps.defaultLanguage, {});
    }
    // One stream per call, and only the call Exotel says it is: a stream naming our call id with another
    // CallSid than the one Exotel gave the call is not that call's.
    const otherCall = start.callSid !== undefined && call.exotelCallSid !== null && call.exotelCallSid !== start.callSid;
    if (this.deps.live.has(call.id) || otherCall) {
      store.recordEvent({ callId: call.id, kind: 'voicebot_stream_refused', route: ROUTE, params: { ...params, why: otherCall ? 'another CallSid' : 'a stream is open' } });
      this.log.warn(otherCall ? 'a Voicebot stream for our call id with another CallSid: refused' : 'a second Voicebot stream for a call that has one: refused');
      this.phase = 'ended';
      return this.socket.close(1008, 'not this call\'s stream');
    }
    this.deps.live.set(call.id, this);
    this.call = { id: call.id, flow };
    this.record('voicebot_stream_started', params);
    this.log.info({ format: start.format }, 'Voicebot stream started');
    this.turn(call, undefined);
  }

  /** Applies an input (or asks the first question) through the shared turn rule, then says the reply. */
  private turn(call: CallRecord, input: Input | undefined): void {
    const { flow } = this.call!;
    const result = takeTurn(this.deps.store, flow, call, {
      input,
      step: input && call.state.step,
      turn: input && call.state.turn,
      route: ROUTE,
      // A bare # came as a dtmf frame: kept as the key it was, as Exotel's Digits=# is on the other routes.
      params: { stream_sid: this.streamSid, call_sid: this.callSid ?? '', ...(input?.kind === 'digits' && input.digits === '' ? { digits: '#' } : {}) },
      exotelCallSid: this.callSid,
    }, this.deps.options);
    if (input && result.applied) this.log.info({ step: call.state.step }, pressedMessage(input));
    if (result.reply.kind === 'end' && result.applied) this.log.info({ outcome: result.reply.outcome }, `Call outcome: ${result.reply.outcome}`);
    // Exotel's final status came first: nobody is on the line. Keys that came with it still count (the call
    // settles after a grace for them, calls/status.ts), but nothing more is asked: no loop of re-asks.
    const hungUpAlready = isFinalStatus(call.status);
    if ((hungUpAlready && result.reply.kind === 'ask') || (!result.applied && (hungUpAlready || (result.reply.kind === 'ask' && (call.settledAt !== null || call.state.outcome !== undefined))))) {
      this.log.info('Voicebot turn after the call ended or settled: hanging up');
      return this.hangUp(1000, 'call ended');
    }
    this.speakReply(call, result.reply, result.state);
  }

  private speakReply(call: CallRecord, reply: Reply, state: FlowState): void {
    this.present(reply, this.call!.flow, state.language, { ...call.context, ...state.values });
  }

  private present(reply: Reply, flow: Flow, language: Language, context: PromptContext): void {
    this.reply = reply;
    this.keys = '';
    this.pressedBare = false;
    clearTimeout(this.waitTimer);
    const names = replyPrompts(reply);
    const pcm = names.length > 0 ? this.deps.speak(flow, language, names, context) : undefined;
    if (names.length > 0 && !pcm) this.log.error({ prompts: names, language }, 'no recording can say these prompts: check PROMPTS_DIR');
    this.play(pcm, () => {
      if (reply.kind === 'ask') this.waitForKeys(reply.input.timeoutSeconds);
      // The conversation is over: closing the stream runs the flow's next applet (Connect, then Hangup).
      else this.hangUp(1000, reply.kind === 'transfer' ? 'transfer' : 'conversation ended');
    });
  }

  /** Sends the audio in aligned chunks at about real time, then a mark; `then` runs once it has played. */
  private play(pcm: Buffer | undefined, then: () => void): void {
    this.stopPlaying(false);
    const pieces = pcm ? chunks(encodeFor(pcm, this.format), this.format) : [];
    if (pieces.length === 0) return then();
    const chunkMs = (chunkBytes(this.format) / bytesPerSecond(this.format)) * 1000;
    const mark = `prompt-${++this.marks}`;
    const playback: Playback = { mark, timer: undefined, then };
    this.playback = playback;
    // Where the vendor's playback of what we sent ends, as we can tell: each chunk plays after the one before
    // it, or from now if the buffer ran dry (the loop stalled). Never more than LEAD_CHUNKS beyond the chunk
    // playing, so a stall is followed by the next chunk, not by a burst of the missed audio.
    let playhead = Date.now();
    let next = 0;
    const pump = () => {
      if (this.playback !== playback) return;
      const now = Date.now();
      while (next < pieces.length && playhead - now <= LEAD_CHUNKS * chunkMs) {
        this.socket.send(mediaMessage(this.streamSid, pieces[next]!, ++this.chunk, this.audioMs));
        this.audioMs += chunkMs;
        playhead = Math.max(playhead, now) + chunkMs;
        next++;
      }
      if (next < pieces.length) {
        playback.timer = setTimeout(pump, Math.max(0, playhead - LEAD_CHUNKS * chunkMs - Date.now()));
        return;
      }
      this.socket.send(markMessage(this.streamSid, mark));
      playback.timer = setTimeout(() => this.finished(mark), Math.max(0, playhead - Date.now()) + MARK_GRACE_MS);
    };
    pump();
  }

  private finished(mark: string): void {
    const playback = this.playback;
    if (!playback || playback.mark !== mark) return;
    clearTimeout(playback.timer);
    this.playback = undefined;
    try {
      playback.then();
    } catch (error) {
      this.fail(error);
    }
  }

  /** Stops sending; `clear` also drops what Exotel has buffered but not played (barge-in, §6.4). */
  private stopPlaying(clear: boolean): void {
    if (!this.playback) return;
    clearTimeout(this.playback.timer);
    this.playback = undefined;
    if (clear) this.socket.send(clearMessage(this.streamSid));
  }

  private waitForKeys(seconds: number): void {
    clearTimeout(this.waitTimer);
    const input = (): Input => (this.keys !== '' ? { kind: 'digits', digits: this.keys } : this.pressedBare ? { kind: 'digits', digits: '' } : { kind: 'no_input' });
    this.waitTimer = setTimeout(() => this.safely(() => this.answer(input())), seconds * 1000 * this.deps.waitScale);
  }

  /** A key: it stops the prompt (barge-in) and is collected like a Gather's input. */
  private press(digit: string): void {
    const reply = this.reply;
    if (this.phase !== 'live' || !this.call || reply?.kind !== 'ask') return void this.log.debug({ digit }, 'key outside a question ignored');
    if (digit === '#' && (reply.input.finishOnKey === '#' || this.keys === '')) {
      // A # ends the keys before it. With nothing before it (after an answer that filled every digit, or at
      // a menu) it is no answer yet: the question's wait goes on, and ends as a bare press (the engine asks
      // again, silences afresh), never a wrong key, never a silence that could end the call.
      if (this.keys !== '') this.answer({ kind: 'digits', digits: this.keys });
      else this.pressedBare = true;
      return;
    }
    this.stopPlaying(true);
    this.keys += digit;
    if (this.keys.length >= reply.input.maxDigits) return this.answer({ kind: 'digits', digits: this.keys });
    // More keys may follow: the answer ends on #, on the last digit, or after this long without a key.
    this.waitForKeys(reply.input.timeoutSeconds);
  }

  private answer(input: Input): void {
    clearTimeout(this.waitTimer);
    this.keys = '';
    const call = this.deps.store.get(this.call!.id);
    if (!call) throw new Error(`call ${this.call!.id} vanished`);
    this.turn(call, input);
  }

  /**
   * The stream is over: a conversation still open ends as if the vendor had said nothing more (the vendor
   * hung up, or Exotel stopped the applet), unless the stream ended for a reason of ours (`decide` false).
   */
  private end(why: string, decide = true): void {
    if (this.phase === 'ended') return;
    this.phase = 'ended';
    clearTimeout(this.startTimer);
    clearTimeout(this.waitTimer);
    this.stopPlaying(false);
    if (!this.call) return;
    if (this.deps.live.get(this.call.id) === this) this.deps.live.delete(this.call.id);
    if (!decide) return void this.log.info(`Voicebot stream ended (${why})`);
    try {
      const call = this.deps.store.get(this.call.id);
      if (call && call.state.outcome === undefined && call.settledAt === null) {
        // The same ending as a Passthru with no keys after the last repeat (applet mode).
        const result = takeTurn(this.deps.store, this.call.flow, call, {
          input: { kind: 'no_input', final: true },
          step: call.state.step,
          turn: call.state.turn,
          route: ROUTE,
          params: { stream_sid: this.streamSid, call_sid: this.callSid ?? '', ended_by: why },
          exotelCallSid: this.callSid,
        }, this.deps.options);
        this.log.info({ outcome: result.state.outcome }, `Voicebot stream ended before an answer (${why}): ${result.state.outcome}`);
      } else {
        this.log.info(`Voicebot stream ended (${why})`);
      }
    } catch (error) {
      this.log.error({ err: error }, 'could not end the conversation of a closed Voicebot stream');
    }
  }

  private hangUp(code: number, reason: string): void {
    if (this.phase === 'ended') return;
    this.phase = 'hanging_up';
    this.socket.close(code, reason);
  }

  /** Logs to the call's timeline; a failing database must not take the socket handler (and the process) down. */
  private record(kind: string, params: Record<string, string>): void {
    try {
      this.deps.store.recordEvent({ callId: this.call!.id, kind, route: ROUTE, params: { stream_sid: this.streamSid, ...params } });
    } catch (error) {
      this.log.error({ err: error, kind }, 'could not store a Voicebot stream event');
    }
  }

  private safely(work: () => void): void {
    try {
      work();
    } catch (error) {
      this.fail(error);
    }
  }

  /** Something of ours broke mid-call: apologise (if we still can) and hang up, never leave the line silent. */
  private fail(error: unknown): void {
    this.log.error({ err: error }, 'Voicebot turn failed; apologising and hanging up');
    if (this.phase !== 'live') return this.hangUp(1011, 'internal error');
    const flow = this.call?.flow ?? this.deps.fallbackFlow;
    try {
      this.present({ kind: 'end', outcome: 'no_response', say: [flow.apology] }, flow, this.deps.defaultLanguage, {});
    } catch {
      this.hangUp(1011, 'internal error');
    }
  }
}
