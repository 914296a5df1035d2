// Plays a call in applet mode as Exotel runs the README's dashboard recipe (reference §5): fetch the Gather
// JSON, say its prompt, wait for keys, repeat it `repeat_menu` times on silence, pass the keys (quoted) to
// the sync Passthru, follow 200 back to the Gather or 302 on to the Greeting (HEAD, then GET), optionally
// an async Passthru, then hang up. What Exotel was seen to refuse, the simulator refuses too.
import { istStamp, requestApplet, type SimulatedCall, type SimulatedRequest } from './simulated-call.js';
import { agentLegStatus } from './vendors.js';

/** A flow built in the simulated dashboard, for one app id. */
export interface DashboardFlow {
  gatherUrl: string;
  passthruUrl: string;
  greetingUrl: string;
  /** A Connect applet after the Greeting, whose URL names the agent to connect (or nobody). */
  connectUrl?: string | undefined;
  /** A loop (the Passthru's 200 goes back to the one Gather), or an unrolled chain of this many pairs. */
  pairs: 'loop' | number;
  /** An async Passthru to the same URL before the Hangup. */
  endPassthru: boolean;
  /** Exotel was seen to drop the query string of configured applet URLs (reference §13). */
  dropQueryStrings: boolean;
}

const MAX_ROUNDS = 30;

/** `hangUp`: ends the call and sends its final status (for a vendor who hangs up with their last keys). */
export async function playAppletCall(call: SimulatedCall, flow: DashboardFlow, appId: string, hangUp: () => Promise<void>): Promise<void> {
  if (!call.behaviour.answers) return;
  const presses = [...call.behaviour.presses];
  const base: Record<string, string> = {
    CallSid: call.sid,
    CallFrom: call.from,
    CallTo: call.callerId,
    // Applet requests say outbound-dial even for API-placed calls (reference §13).
    Direction: 'outbound-dial',
    Created: istStamp(call.dateCreated),
    CallType: 'call-attempt',
    flow_id: appId,
    ...(call.customField === undefined ? {} : { CustomField: call.customField }),
  };
  let digits: string | undefined;
  const params = (): Record<string, string> => ({ ...base, CurrentTime: istStamp(call.dateCreated), ...(digits === undefined ? {} : { digits }) });

  let toGreeting = false;
  for (let round = 0; !toGreeting; round++) {
    if (round >= MAX_ROUNDS) return void (call.problem = `more than ${MAX_ROUNDS} Gather rounds: hung up`);
    if (flow.pairs !== 'loop' && round >= flow.pairs) break; // the chain ran out: on to the Greeting
    // The Gather's documented parameters name the call only by CallSid (reference §5.2): no CustomField.
    const { CustomField: _unsent, ...gatherParams } = params();
    const gather = await get(call, flow, flow.gatherUrl, gatherParams);
    if (!gather) return;
    const config = readGather(gather);
    if (typeof config === 'string') return void (call.problem = `Gather applet: ${config}`);
    let keys = listen(call, config.prompt, config.maxDigits, presses);
    for (let repeat = 0; keys === null && repeat < config.repeats; repeat++) keys = listen(call, config.repeatPrompt, config.maxDigits, presses);
    digits = `"${keys ?? ''}"`;
    if (keys !== null && presses.length === 0 && call.behaviour.answers && call.behaviour.hangsUpWithLastKey) {
      // The vendor hung up as they pressed: Exotel reports the end, then runs the Passthru (reference §5.1).
      await hangUp();
      await get(call, flow, flow.passthruUrl, { ...params(), CallType: 'client-hangup' }, [200, 302]);
      return;
    }
    const passthru = await get(call, flow, flow.passthruUrl, params(), [200, 302]);
    if (!passthru) return;
    toGreeting = passthru.status === 302;
  }
  const probe = await get(call, flow, flow.greetingUrl, params(), [200], 'HEAD');
  if (!probe) return;
  const greeting = await get(call, flow, flow.greetingUrl, params());
  if (!greeting) return;
  // "Content-Type: text/plain and nothing else" (reference §5.5).
  if (probe.contentType !== 'text/plain' || greeting.contentType !== probe.contentType) {
    return void (call.problem = `Greeting applet: Content-Type ${greeting.contentType} (HEAD: ${probe.contentType}), not text/plain`);
  }
  for (const line of greeting.body.split('\n').map((l) => l.trim()).filter(Boolean)) call.heard.push(/^https?:\/\//.test(line) ? `[play ${line}]` : line);
  let agentLeg: Record<string, string> = {};
  if (flow.connectUrl) {
    const connect = await get(call, flow, flow.connectUrl, params());
    if (!connect) return;
    const numbers = (JSON.parse(connect.body) as { destination?: { numbers?: unknown } }).destination?.numbers;
    const agent = Array.isArray(numbers) && typeof numbers[0] === 'string' ? numbers[0] : undefined;
    if (agent) {
      // The Connect applet dials the agent; the next applet hears how that leg went (reference §5.1, §5.3).
      const status = agentLegStatus(agent);
      call.dialled.push({ number: agent, status });
      // As Exotel's Passthru says it (reference §5.1): CallType completed, or incomplete when no agent answered.
      agentLeg = { CallType: status === 'completed' ? 'completed' : 'incomplete', DialWhomNumber: agent, DialCallDuration: status === 'completed' ? '30' : '0' };
    }
  }
  if (flow.endPassthru) await get(call, flow, flow.passthruUrl, { ...params(), ...agentLeg }, [200, 302]);
}

interface GatherConfig { prompt: string; repeatPrompt: string; repeats: number; maxDigits: number }

function readGather(answer: SimulatedRequest): GatherConfig | string {
  // Exactly application/json: other types were seen to drop the caller (reference §5.2, §5.3).
  if (answer.contentType !== 'application/json') return `Content-Type ${answer.contentType}, not exactly application/json`;
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(answer.body) as Record<string, unknown>;
  } catch {
    return 'the body is not JSON';
  }
  const prompt = spoken(json.gather_prompt);
  if (prompt === undefined) return 'no gather_prompt text or audio_url';
  const timeout = Number(json.input_timeout ?? 5);
  if (!Number.isFinite(timeout) || timeout > 6) return `input_timeout ${String(json.input_timeout)} rejected`;
  const maxDigits = Number(json.max_input_digits ?? 255);
  if (!Number.isInteger(maxDigits) || maxDigits < 1) return `max_input_digits ${String(json.max_input_digits)} rejected`;
  return {
    prompt,
    repeatPrompt: spoken(json.repeat_gather_prompt) ?? prompt,
    repeats: Math.max(0, Number(json.repeat_menu ?? 0) || 0),
    maxDigits,
  };
}

function spoken(prompt: unknown): string | undefined {
  if (!prompt || typeof prompt !== 'object') return undefined;
  const { text, audio_url } = prompt as { text?: unknown; audio_url?: unknown };
  if (typeof text === 'string' && text.trim() !== '') return text;
  if (typeof audio_url === 'string' && audio_url.trim() !== '') return `[play ${audio_url}]`;
  return undefined;
}

/** Says a prompt and takes the vendor's next keys (at most max_input_digits), or null for silence. */
function listen(call: SimulatedCall, prompt: string, maxDigits: number, presses: Array<string | null>): string | null {
  call.heard.push(prompt);
  const keys = presses.length > 0 ? presses.shift()! : null;
  call.pressed.push(keys);
  return keys === null ? null : keys.slice(0, maxDigits);
}

async function get(
  call: SimulatedCall,
  flow: DashboardFlow,
  configured: string,
  params: Record<string, string>,
  accept: number[] = [200],
  method: 'GET' | 'HEAD' = 'GET',
): Promise<SimulatedRequest | undefined> {
  // Exotel was seen to drop the query string of configured applet URLs (reference §13).
  const target = flow.dropQueryStrings ? configured.split('?')[0]! : configured;
  return requestApplet(call, configured, params, { accept, method, target });
}
