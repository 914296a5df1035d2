// Plays a call in ExoML mode as Exotel would: fetch the Url, say what is said, wait at each Gather for the
// vendor's keys, post them to the action (quoted, as Exotel sends digits), fall through to the verbs after
// a Gather when nothing is pressed, follow Redirect, stop at Hangup or at the end of the document.
import { request } from 'undici';
import { withoutQuery } from '../logging.js';
import { readExoml, type ExomlNode } from './exoml-reader.js';
import type { SimulatedCall, SimulatedRequest } from './simulated-call.js';
import { agentLegStatus } from './vendors.js';

const MAX_DOCUMENTS = 30;

interface Hop {
  method: 'GET' | 'POST';
  url: string;
  extra: Record<string, string>;
  /** The vendor hung up as they pressed these keys: the final status goes out before this request. */
  hangUpFirst?: boolean;
}

/** `hangUp`: ends the call and sends its final status (for a vendor who hangs up with their last keys). */
export async function playExomlCall(call: SimulatedCall, exotelParams: Record<string, string>, hangUp: () => Promise<void>): Promise<void> {
  if (!call.behaviour.answers) return;
  const presses = [...call.behaviour.presses];
  let hop: Hop | undefined = { method: 'GET', url: call.url, extra: {} };
  for (let count = 0; hop && count < MAX_DOCUMENTS; count++) {
    if (hop.hangUpFirst) {
      // Nobody is left to hear the answer; it must still be a valid document.
      await hangUp();
      const answer = await fetchStep(call, hop, exotelParams);
      const read = answer && readExoml(answer.body);
      if (read && 'error' in read) call.problem = `${withoutQuery(hop.url)}: ${read.error}`;
      return;
    }
    const answer = await fetchStep(call, hop, exotelParams);
    if (!answer) return;
    const read = readExoml(answer.body);
    if ('error' in read) {
      call.problem = `${withoutQuery(hop.url)}: ${read.error}`;
      return;
    }
    hop = perform(call, read.verbs, presses);
  }
  if (hop) call.problem = `more than ${MAX_DOCUMENTS} documents: hung up`;
}

/** Runs the verbs of one document; returns the next request, or undefined when the call ends. */
function perform(call: SimulatedCall, verbs: ExomlNode[], presses: Array<string | null>): Hop | undefined {
  for (const verb of verbs) {
    switch (verb.name) {
      case 'Say':
        call.heard.push(verb.text);
        break;
      case 'Play':
        call.heard.push(`[play ${verb.text}]`);
        break;
      case 'Gather': {
        for (const prompt of verb.children) call.heard.push(prompt.name === 'Play' ? `[play ${prompt.text}]` : prompt.text);
        const keys = presses.length > 0 ? presses.shift()! : null;
        call.pressed.push(keys);
        if (keys !== null) {
          const method = verb.attrs.method?.toUpperCase() === 'GET' ? 'GET' : 'POST';
          const hangUpFirst = presses.length === 0 && call.behaviour.answers && call.behaviour.hangsUpWithLastKey === true;
          return { method, url: verb.attrs.action ?? call.url, extra: { Digits: `"${keys}"` }, hangUpFirst };
        }
        break; // nothing pressed: Exotel goes on with the next verb
      }
      case 'Dial': {
        // Connects the caller on to the number in the verb; Exotel reports the leg to the action URL.
        const status = agentLegStatus(verb.text);
        call.dialled.push({ number: verb.text, status });
        if (!verb.attrs.action) return undefined;
        const method = verb.attrs.method?.toUpperCase() === 'GET' ? 'GET' : 'POST';
        return { method, url: verb.attrs.action, extra: { DialCallStatus: status, DialCallDuration: status === 'completed' ? '30' : '0' } };
      }
      case 'Redirect':
        return { method: verb.attrs.method?.toUpperCase() === 'GET' ? 'GET' : 'POST', url: verb.text, extra: {} };
      case 'Hangup':
        return undefined;
      default:
        call.problem = `unknown verb <${verb.name}>`;
        return undefined;
    }
  }
  return undefined;
}

async function fetchStep(call: SimulatedCall, hop: Hop, exotelParams: Record<string, string>): Promise<SimulatedRequest | undefined> {
  const params = { ...exotelParams, ...hop.extra };
  const form = new URLSearchParams(params).toString();
  const url = hop.method === 'GET' ? `${hop.url}${hop.url.includes('?') ? '&' : '?'}${form}` : hop.url;
  try {
    const response = await request(url, {
      method: hop.method,
      headers: hop.method === 'POST' ? { 'content-type': 'application/x-www-form-urlencoded' } : {},
      ...(hop.method === 'POST' ? { body: form } : {}),
      headersTimeout: 5_000,
      bodyTimeout: 5_000,
    });
    const body = await response.body.text();
    const recorded: SimulatedRequest = {
      method: hop.method,
      url: hop.url,
      params,
      status: response.statusCode,
      contentType: String(response.headers['content-type'] ?? ''),
      body,
    };
    call.requests.push(recorded);
    if (response.statusCode !== 200) {
      call.problem = `${withoutQuery(hop.url)} answered HTTP ${response.statusCode}: Exotel hangs up`;
      return undefined;
    }
    return recorded;
  } catch (error) {
    call.problem = `${withoutQuery(hop.url)} unreachable: ${(error as Error).message}`;
    return undefined;
  }
}
