// What the simulator knows of one call: how it was requested, how the vendor behaves, and a transcript of
// everything that happened, for tests, the CLI and the developer reading the logs.
import { request } from 'undici';
import { withoutQuery } from '../logging.js';
import type { VendorBehaviour } from './vendors.js';
import type { StreamReport } from './voicebot-call.js';

export interface SimulatedRequest {
  method: 'GET' | 'POST' | 'HEAD';
  url: string;
  params: Record<string, string>;
  status: number;
  contentType: string;
  body: string;
}

export interface SimulatedCall {
  sid: string;
  accountSid: string;
  /** As Exotel echoes it: 0-prefixed national form (reference §1.9). */
  from: string;
  callerId: string;
  url: string;
  statusCallback: string | undefined;
  statusCallbackEvents: string[];
  customField: string | undefined;
  /** outbound-api: placed through Connect; the others are on the account's Calls list only (reference §2). */
  direction: 'outbound-api' | 'inbound' | 'outbound-dial';
  behaviour: VendorBehaviour;
  dateCreated: Date;
  status: 'in-progress' | 'completed' | 'busy' | 'no-answer' | 'failed';
  durationSeconds: number;
  recordingUrl: string | undefined;
  /** Everything the vendor heard, in order (text of each Say; "[play <url>]" for Play). */
  heard: string[];
  /** Numbers the call was connected on to (a transfer to an agent), and how each leg ended. */
  dialled: Array<{ number: string; status: string }>;
  /** One entry per prompt that waited for keys: what the vendor pressed, or null for silence. */
  pressed: Array<string | null>;
  requests: SimulatedRequest[];
  callbacks: Array<{ status: number | 'unreachable' | 'dropped'; params: Record<string, string> }>;
  /** Voicebot mode: what the stream received (chunk sizes, pacing, marks). */
  stream?: StreamReport;
  /** Why the simulated Exotel gave up on the call, when it did (a bad document, an unreachable URL). */
  problem: string | undefined;
  done: Promise<void>;
}

/** Exotel's time format: `YYYY-MM-DD HH:mm:ss`, IST, no zone (reference §1.6). */
export { istWallClock as istStamp } from '../exotel/client.js';

/**
 * Exotel calling one of our applet URLs (reference §5): Exotel's parameters in the query, its version header,
 * a 5 s patience. The exchange is kept on the call; an answer outside `accept`, or no answer, is the problem
 * that drops the caller. `configured` is the URL as typed in the dashboard; `target`, the one requested.
 */
export async function requestApplet(
  call: SimulatedCall,
  configured: string,
  params: Record<string, string>,
  { accept = [200], method = 'GET', target = configured }: { accept?: number[]; method?: 'GET' | 'HEAD'; target?: string } = {},
): Promise<SimulatedRequest | undefined> {
  const url = `${target}${target.includes('?') ? '&' : '?'}${new URLSearchParams(params).toString()}`;
  try {
    const response = await request(url, { method, headers: { 'exotel-version': '1.0' }, headersTimeout: 5_000, bodyTimeout: 5_000 });
    const body = await response.body.text();
    const recorded: SimulatedRequest = { method, url: configured, params, status: response.statusCode, contentType: String(response.headers['content-type'] ?? ''), body };
    call.requests.push(recorded);
    if (!accept.includes(response.statusCode)) {
      call.problem = `${withoutQuery(configured)} answered HTTP ${response.statusCode}: Exotel drops the caller`;
      return undefined;
    }
    return recorded;
  } catch (error) {
    call.problem = `${withoutQuery(configured)} unreachable: ${(error as Error).message}`;
    return undefined;
  }
}
