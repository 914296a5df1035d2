// Property-based fuzzing of the Voicebot stream: thousands of generated frame sequences (valid, boundary,
// malformed, hostile) fed to live sessions over the real store. Whatever arrives: nothing throws, every
// frame we send is one of ours (media, mark, clear) for the stream's id, and we close only with our codes.
// The seed is printed: FUZZ_SEED=<seed> npm test replays a failure; FUZZ_RUNS scales the run.
import fc from 'fast-check';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
const sids: string[] = [];
// Whatever the session logs at error level: one of our own turns failed.
const errors: string[] = [];
const ids: string[] = [];
beforeAll(async () => {
  prompts = testPrompts();
  h = await startHarness(voicebotMode(prompts.dir));
  for (let i = 0; i < 3; i++) {
    const sid = `fuzzstream${i}000000000000000000000`;
    ids.push(storedCall(h.app.store, { transport: 'voicebot', exotelCallSid: sid }).id);
    sids.push(sid);
  }
  deps = {
    store: h.app.store,
    log: pino({ level: 'error' }, { write: (line: string) => void errors.push(line) }),
    speak: streamSpeaker(h.app.clips, 'hi-IN'),
    options: { agentKey: '0' },
    live: new Map(),
    defaultLanguage: 'hi-IN',
    fallbackFlow: vendorOrder,
    waitScale: 0,
  };
});
afterAll(async () => {
  await h.close();
  prompts.remove();
});

const anything = fc.oneof(fc.string({ maxLength: 12 }), fc.integer(), fc.constant(null), fc.boolean(), fc.constantFrom('1', '#', '*', '12', '', 'stopped', 'callended'));
const sid = fc.oneof(fc.constantFrom(...[0, 1, 2].map((i) => `fuzzstream${i}000000000000000000000`)), fc.string({ maxLength: 8 }));
const start = fc.record({
  event: fc.constant('start'),
  sequence_number: anything,
  stream_sid: anything,
  start: fc.record(
    {
      stream_sid: fc.oneof(fc.string({ maxLength: 8 }), anything),
      call_sid: sid,
      custom_parameters: fc.oneof(fc.dictionary(fc.string({ maxLength: 8 }), anything, { maxKeys: 4 }), anything),
      media_format: fc.oneof(fc.record({ encoding: fc.constantFrom('base64', 'audio/x-mulaw', 'raw/slin', ''), sample_rate: fc.constantFrom(8000, '16000', 24000, 44100, 'x') }), anything),
    },
    { requiredKeys: [] },
  ),
});
const frame = fc.oneof(
  start.map((f) => JSON.stringify(f)),
  fc.record({ event: fc.constantFrom('dtmf'), dtmf: fc.record({ digit: anything, duration: anything }, { requiredKeys: [] }) }).map((f) => JSON.stringify(f)),
  fc.record({ event: fc.constantFrom('mark'), mark: fc.record({ name: fc.oneof(anything, fc.constantFrom('prompt-1', 'prompt-2', 'prompt-3')) }, { requiredKeys: [] }) }).map((f) => JSON.stringify(f)),
  fc.record({ event: fc.constantFrom('stop', 'media', 'connected', 'clear', 'x'), stop: fc.record({ reason: anything }, { requiredKeys: [] }), media: fc.record({ payload: anything, chunk: anything }, { requiredKeys: [] }) }, { requiredKeys: ['event'] }).map((f) => JSON.stringify(f)),
  fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
  fc.string({ maxLength: 40 }),
);

describe('fuzzing Voicebot frames', () => {
  it('any frame sequence: no exception, only our frames back, only our close codes (never an internal error)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(frame, { maxLength: 15 }), fc.boolean(), async (frames, endsWithClose) => {
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
        session = new VoicebotSession(socket, deps);
        for (const text of frames) session.receive(text);
        await new Promise((resolve) => setImmediate(resolve));
        if (endsWithClose) session.closed(1006);
        else socket.close(1000);
        for (const text of sent) {
          const message = JSON.parse(text) as { event: string; stream_sid: unknown; streamSid: unknown };
          expect(['media', 'mark', 'clear']).toContain(message.event);
          expect(typeof message.stream_sid).toBe('string');
          expect(message.streamSid).toBe(message.stream_sid);
        }
        // 1011 would mean one of our own turns threw.
        for (const code of closes) expect([1000, 1008]).toContain(code);
      }),
      { seed, numRuns: runs },
    );
    // Every stream ended: no call is left holding a stream, and each call is still readable.
    expect(errors).toEqual([]);
    expect(deps.live.size).toBe(0);
    for (const id of ids) expect(h.app.store.get(id)).toBeDefined();
  }, 600_000);
});
