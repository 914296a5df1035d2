// One flow, three transports: every test number reaches the same outcome, the same digits by step and the
// same backend-visible result in ExoML mode, applet mode (looped and unrolled) and voicebot mode.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APPLET_MODE, order, startHarness, voicebotMode, type Harness } from '../helpers/harness.js';
import { testPrompts } from '../helpers/prompts.js';
import { backendView, SCENARIOS } from '../helpers/scenarios.js';

let exoml: Harness;
let applet: Harness;
let unrolled: Harness;
let voicebot: Harness;
let prompts: ReturnType<typeof testPrompts>;
beforeAll(async () => {
  prompts = testPrompts();
  [exoml, applet, unrolled, voicebot] = await Promise.all([startHarness(), startHarness(APPLET_MODE), startHarness(APPLET_MODE), startHarness(voicebotMode(prompts.dir))]);
  // Where the dashboard cannot loop: the README's eight Gather+Passthru pairs (two questions, each with two
  // re-asks after a wrong key, and room for a language switch or a bare #).
  unrolled.simulator.installRecipe(APPLET_MODE.EXOTEL_APP_ID, (a) => unrolled.app.links.applet(a, APPLET_MODE.APPLET_PATH_TOKEN), { pairs: 8 });
});
afterAll(async () => {
  await Promise.all([exoml.close(), applet.close(), unrolled.close(), voicebot.close()]);
  prompts.remove();
});

async function run(h: Harness, phone: string) {
  const placed = await h.trigger(order({ vendor_phone: phone, order_id: `ORD-${phone}` }));
  expect(placed.status, JSON.stringify(placed.body)).toBe(200);
  const simulated = await h.simulator.finished(placed.body.call_sid);
  expect(simulated.problem).toBeUndefined();
  return h.settled(placed.body.call_id);
}

describe.each(SCENARIOS)('vendor $phone', (expected) => {
  it(`ends ${expected.outcome} in every transport`, async () => {
    const [viaExoml, viaApplet, viaChain, viaStream] = await Promise.all([
      run(exoml, expected.phone),
      run(applet, expected.phone),
      run(unrolled, expected.phone),
      run(voicebot, expected.phone),
    ]);
    const { phone: _phone, ...view } = expected;
    expect(backendView(viaExoml)).toEqual(view);
    expect(backendView(viaApplet)).toEqual(view);
    expect(backendView(viaChain)).toEqual(view);
    expect(backendView(viaStream)).toEqual(view);
    expect(viaApplet.recording_url === null).toBe(viaExoml.recording_url === null);
    expect(viaStream.recording_url === null).toBe(viaExoml.recording_url === null);
  });
});
