// Property-based fuzzing of the Voicebot stream: thousands of generated frame sequences (valid, boundary,
// malformed, hostile) fed to live sessions over the real store. Whatever arrives: nothing throws, every
// frame we send is one of ours (media, mark, clear) for the stream's id, and we close only with our codes.
// The seed is printed: FUZZ_SEED=<seed> npm test replays a failure; FUZZ_RUNS scales the run.
import fc from 'fast-check';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { vendorOrder } from '../../src/flows/vendor-order.js';
import { streamSpeaker } from '../../src/voicebot/speaker.js';
import { VoicebotSession, type SessionDeps } from '../../src/voicebot/session.js';
import { storedCall } from '../helpers/calls.js';
import { startHarness, voicebotMode, type Harness } from '../helpers/harness.js';
import { testPrompts } from '../helpers/prompts.js';

const seed = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const runs = Math.ceil(Number(process.env.FUZZ_RUNS ?? 12_000) / 4);
console.log(`voicebot frame fuzz seed ${seed}, ${runs} runs (replay: FUZZ_SEED=${seed} npm test)`);

let prompts: ReturnType<typeof testPrompts>;
let h: Harness;
let deps: SessionDeps;
// Whatever the session logs at error level: one of our own turns failed.
const errors: string[] = [];
beforeAll(async () => {
  prompts = testPrompts();
  h = await startHarness(voicebotMode(prompts.dir));
  deps = {
    store: h.app.store,
    log: pino({ level: 'error' }, { write: (line: string) => void errors.push(line) }),
    speak: streamSpeaker(h.app.clips, 'hi-IN'),
    options: { agentKey: '0' },
    live: new Map(),
    defaultLanguage: 'hi-IN',
    fallbackFlow: vendorOrder,
    waitScale: 1,
  };
});
afterAll(async () => {
  vi.useRealTimers();
  await h.close();
  prompts.remove();
});

// Placeholders a run replaces with the CallSids and ids of calls it creates fresh, so every run talks to
// live conversations, not to calls an earlier run ended.
const SID = ['<sid0>', '<sid1>'];
const anything = fc.oneof(fc.string({ maxLength: 12 }), fc.integer(), fc.constant(null), fc.boolean(), fc.constantFrom('1', '#', '*', '12', '', 'stopped', 'callended'));
const start = fc.record({
  event: fc.constant('start'),
  sequence_number: anything,
  stream_sid: anything,
  start: fc.record(
    {
      stream_sid: fc.oneof(fc.string({ maxLength: 8 }), anything),
      call_sid: fc.oneof(fc.constantFrom(...SID, ...SID, ...SID), fc.string({ maxLength: 8 })),
      custom_parameters: fc.oneof(fc.record({ call_id: fc.constantFrom('<id0>', '<id1>', 'call_nope') }), fc.dictionary(fc.string({ maxLength: 8 }), anything, { maxKeys: 5 }), anything),
      media_format: fc.oneof(fc.record({ encoding: fc.constantFrom('base64', 'audio/x-mulaw', 'raw/slin', ''), sample_rate: fc.constantFrom(8000, '16000', 24000, 44100, 'x') }), anything),
    },
    { requiredKeys: [] },
  ),
});
const key = fc.record({ event: fc.constant('dtmf'), dtmf: fc.record({ digit: fc.constantFrom('1', '2', '3', '7', '9', '0', '#', '*', '2', '5') }) });
const frame = fc.oneof(
  { arbitrary: start.map((f) => JSON.stringify(f)), weight: 2 },
  { arbitrary: key.map((f) => JSON.stringify(f)), weight: 4 },
  { arbitrary: fc.record({ event: fc.constantFrom('dtmf'), dtmf: fc.record({ digit: anything, duration: anything }, { requiredKeys: [] }) }).map((f) => JSON.stringify(f)), weight: 1 },
  { arbitrary: fc.record({ event: fc.constantFrom('mark'), mark: fc.record({ name: fc.oneof(anything, fc.constantFrom('prompt-1', 'prompt-2', 'prompt-3', 'prompt-4')) }, { requiredKeys: [] }) }).map((f) => JSON.stringify(f)), weight: 3 },
  {
    arbitrary: fc
      .record({ event: fc.constantFrom('stop', 'media', 'connected', 'clear', 'x'), stop: fc.record({ reason: anything }, { requiredKeys: [] }), media: fc.record({ payload: anything, chunk: anything }, { requiredKeys: [] }) }, { requiredKeys: ['event'] })
      .map((f) => JSON.stringify(f)),
    weight: 1,
  },
  { arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)), weight: 1 },
  { arbitrary: fc.string({ maxLength: 40 }), weight: 1 },
);
// Between frames, time passes: prompts play out, waits for keys run out, marks never come.
const step = fc.oneof({ arbitrary: frame, weight: 4 }, { arbitrary: fc.integer({ min: 0, max: 8_000 }).map((ms) => ({ wait: ms })), weight: 1 });

describe('fuzzing Voicebot frames', () => {
  it('any frame sequence over time: no exception, only our frames back, only our close codes', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
    let turnsTaken = 0;
    let run = 0;
    await fc.assert(
      // Most runs open with a well-formed start for a fresh call, so the rest reaches a live conversation.
      fc.asyncProperty(fc.option(fc.constant(JSON.stringify({ event: 'start', start: { stream_sid: 'fuzz', call_sid: '<sid0>' } })), { freq: 4 }), fc.array(step, { maxLength: 20 }), async (opening, rest) => {
        const steps = opening === null ? rest : [opening, ...rest];
        run++;
        const calls = [0, 1].map((i) => storedCall(h.app.store, { transport: 'voicebot', exotelCallSid: `fuzzstream${run}x${i}` }));
        const fill = (text: string) =>
          text.replace(/<sid(\d)>/g, (_, i: string) => calls[Number(i)]!.exotelCallSid!).replace(/<id(\d)>/g, (_, i: string) => calls[Number(i)]!.id);
        const sent: string[] = [];
        const closes: number[] = [];
        let session!: VoicebotSession;
        const socket = {
          send: (text: string) => void sent.push(text),
          close: (code: number) => {
            closes.push(code);
            session.closed(code);
          },
        };
        session = new VoicebotSession(socket, deps, { sampleRate: 8_000 });
        for (const item of steps) {
          if (typeof item === 'string') session.receive(fill(item));
          else vi.advanceTimersByTime(item.wait);
        }
        // Long enough for any prompt, wait and re-ask to run its course.
        vi.advanceTimersByTime(120_000);
        if (closes.length === 0) socket.close(1006);
        for (const text of sent) {
          const message = JSON.parse(text) as { event: string; stream_sid: unknown; streamSid: unknown };
          expect(['media', 'mark', 'clear']).toContain(message.event);
          expect(typeof message.stream_sid).toBe('string');
          expect(message.streamSid).toBe(message.stream_sid);
        }
        // 1011 would mean one of our own turns threw.
        for (const code of closes) expect([1000, 1008]).toContain(code);
        for (const call of calls) turnsTaken += h.app.store.events(call.id).filter((e) => e.digits !== null).length;
      }),
      { seed, numRuns: runs },
    );
    vi.useRealTimers();
    expect(errors).toEqual([]);
    // Every stream ended: no call is left holding a stream.
    expect(deps.live.size).toBe(0);
    // The frames reached live conversations: keys were taken as answers in many runs, not only refused.
    expect(turnsTaken).toBeGreaterThan(runs / 10);
  }, 600_000);
});

describe('what the stream URL says', () => {
  function open(url: { callId?: string; sampleRate: 8_000 | 16_000 }, start: Record<string, unknown>) {
    const sent: Array<{ event: string; media?: { payload: string } }> = [];
    const session = new VoicebotSession({ send: (text) => void sent.push(JSON.parse(text)), close: () => {} }, deps, url);
    session.receive(JSON.stringify({ event: 'start', start }));
    return { sent, session };
  }

  it('finds the call by the URL\'s call_id when start carries neither a known CallSid nor the custom parameter', () => {
    const call = storedCall(h.app.store, { transport: 'voicebot', exotelCallSid: null });
    const { sent, session } = open({ callId: call.id, sampleRate: 8_000 }, { stream_sid: 'url-1' });
    expect(sent[0]?.event).toBe('media');
    expect(h.app.store.events(call.id).map((e) => e.kind)).toContain('voicebot_stream_started');
    session.closed(1000);
  });

  it('plays at the URL\'s sample rate when start names none: the same greeting in twice the chunks at 16 kHz', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const chunksAt = (sampleRate: 8_000 | 16_000) => {
      const call = storedCall(h.app.store, { transport: 'voicebot', exotelCallSid: null });
      const { sent, session } = open({ callId: call.id, sampleRate }, { stream_sid: `rate-${sampleRate}` });
      vi.advanceTimersByTime(5_000);
      session.closed(1000);
      // The greeting: every chunk before its mark.
      const media = sent.slice(0, sent.findIndex((m) => m.event === 'mark'));
      expect(media.every((m) => m.event === 'media')).toBe(true);
      expect(new Set(media.map((m) => Buffer.from(m.media!.payload, 'base64').length))).toEqual(new Set([3_200]));
      return media.length;
    };
    const narrow = chunksAt(8_000);
    const wide = chunksAt(16_000);
    vi.useRealTimers();
    expect(wide).toBeGreaterThanOrEqual(2 * narrow - 1);
    expect(wide).toBeLessThanOrEqual(2 * narrow);
  });
});

describe('a session under trouble', () => {
  it('after the event loop stalls, pacing goes on from now: the missed audio is not sent at once', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    try {
      // A long greeting (a 12-digit order id is read digit by digit): many chunks still to send after the stall.
      const call = storedCall(h.app.store, { transport: 'voicebot', exotelCallSid: null, context: { vendor_name: 'V', order_id: '123456789012', order_amount: 987654, items: '' } });
      const sent: string[] = [];
      const session = new VoicebotSession({ send: (text) => void sent.push(text), close: () => {} }, deps, { callId: call.id, sampleRate: 8_000 });
      session.receive(JSON.stringify({ event: 'start', start: { stream_sid: 'stall' } }));
      // Three chunks go at once (the lead); then the loop stalls for a second without running any timer.
      expect(sent).toHaveLength(3);
      vi.setSystemTime(Date.now() + 1_000);
      vi.advanceTimersToNextTimer();
      // When the loop wakes, the lead a prompt starts with (three chunks) and no more: not the second of audio
      // it missed on top of it. Then real time again.
      expect(sent.filter((m) => JSON.parse(m).event === 'media')).toHaveLength(6);
      vi.advanceTimersByTime(200);
      expect(sent.filter((m) => JSON.parse(m).event === 'media')).toHaveLength(7);
      session.closed(1000);
    } finally {
      vi.useRealTimers();
    }
  });

  it('whatever the stall, the vendor\'s buffer never holds more than the three-chunk lead', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    try {
      // A stall shorter than a chunk past due, between one and two chunks, longer: each in a fresh session.
      for (const stallMs of [0, 100, 250, 300, 390, 500, 2_000]) {
        const call = storedCall(h.app.store, { transport: 'voicebot', exotelCallSid: null, context: { vendor_name: 'V', order_id: '123456789012', order_amount: 987654, items: '' } });
        // The vendor's side: each chunk (200 ms at 8 kHz) plays after the one before it, or from its arrival if the buffer ran dry.
        let playhead = 0;
        let maxLead = 0;
        let media = 0;
        let marked = false;
        const session = new VoicebotSession(
          {
            send: (text) => {
              if (JSON.parse(text).event === 'mark') marked = true;
              if (JSON.parse(text).event !== 'media' || marked) return;
              media++;
              playhead = Math.max(playhead, Date.now()) + 200;
              maxLead = Math.max(maxLead, playhead - Date.now());
            },
            close: () => {},
          },
          deps,
          { callId: call.id, sampleRate: 8_000 },
        );
        session.receive(JSON.stringify({ event: 'start', start: { stream_sid: `stall-${stallMs}` } }));
        vi.advanceTimersByTime(450);
        // The loop is busy: the clock moves, no timer runs.
        vi.setSystemTime(Date.now() + stallMs);
        vi.advanceTimersByTime(4_000);
        // The whole greeting went out, then its mark.
        expect([media > 8, marked], `stall ${stallMs} ms`).toEqual([true, true]);
        expect(maxLead, `stall ${stallMs} ms`).toBeLessThanOrEqual(600);
        session.closed(1000);
      }
    } finally {
      vi.useRealTimers();
    }
  });

  it('a database that fails while the socket closes is logged, never thrown into the socket handler', () => {
    const call = storedCall(h.app.store, { transport: 'voicebot', exotelCallSid: null });
    const session = new VoicebotSession({ send: () => {}, close: () => {} }, deps, { callId: call.id, sampleRate: 8_000 });
    session.receive(JSON.stringify({ event: 'start', start: { stream_sid: 'broken-db' } }));
    const { recordEvent } = h.app.store;
    h.app.store.recordEvent = () => {
      throw new Error('SQLITE_IOERR');
    };
    const before = errors.length;
    try {
      expect(() => session.closed(1006)).not.toThrow();
    } finally {
      h.app.store.recordEvent = recordEvent;
    }
    expect(errors.length).toBeGreaterThan(before);
    errors.length = before;
  });
});
