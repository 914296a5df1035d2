// What the simulator knows of one call: how it was requested, how the vendor behaves, and a transcript of
// everything that happened, for tests, the CLI and the developer reading the logs.
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
