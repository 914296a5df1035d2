// Applet mode: renders the engine's reply for Exotel's dashboard applets (reference §5). A question becomes
// the Gather applet's JSON (§5.2); the Passthru's answer is only a branch, 200 (ask again) or 302 (done,
// §5.1); the end of the call is the Greeting applet's text (§5.5).
import { speech, type AudioRenderer, type PromptContext, type Speech } from '../flows/prompts.js';
import type { Flow, Language, Reply } from '../flows/types.js';

/** A Gather prompt: TTS text, or the URL of a recorded WAV (reference §5.2). */
export type GatherPrompt = { text: string } | { audio_url: string };

export interface GatherJson {
  gather_prompt: GatherPrompt;
  max_input_digits: number;
  finish_on_key: string;
  input_timeout: number;
  repeat_menu: number;
  repeat_gather_prompt: GatherPrompt;
}

// An input_timeout of 10 was seen rejected while 6 worked (reference §5.2, §13).
export const MAX_INPUT_TIMEOUT = 6;

interface Render {
  flow: Flow;
  language: Language;
  context: PromptContext;
  audio?: AudioRenderer | undefined;
}

const prompt = (s: Speech): GatherPrompt => ('audio' in s ? { audio_url: s.audio } : { text: s.text });

/** The Gather applet's answer for a question; for a call that has ended, its closing words and no wait. */
export function gatherJson(reply: Reply, { flow, language, context, audio }: Render): GatherJson {
  if (reply.kind !== 'ask') {
    const closing = prompt(speech(flow, language, reply.say, context, audio));
    return { gather_prompt: closing, max_input_digits: 1, finish_on_key: '', input_timeout: 1, repeat_menu: 0, repeat_gather_prompt: closing };
  }
  return {
    gather_prompt: prompt(speech(flow, language, [...reply.say, ...reply.question], context, audio)),
    max_input_digits: reply.input.maxDigits,
    finish_on_key: reply.input.finishOnKey,
    input_timeout: Math.min(reply.input.timeoutSeconds, MAX_INPUT_TIMEOUT),
    // Exotel repeats the question itself on silence; the Passthru then gets no digits and the call ends.
    repeat_menu: reply.reasks,
    repeat_gather_prompt: prompt(speech(flow, language, [reply.reaskPrompt, ...reply.question], context, audio)),
  };
}

/** The sync Passthru's branch: 200 goes back to a Gather, 302 on to the Greeting (and a transfer's Connect). */
export const passthruStatus = (reply: Reply): 200 | 302 => (reply.kind === 'ask' ? 200 : 302);

/**
 * The Connect applet's answer (reference §5.3): the agent after a transfer; for every other call an empty
 * list, which makes Exotel take the "didn't dial anyone" branch straight on to the Hangup.
 */
export function connectJson(agent: { number: string; callerId: string; timeoutSeconds: number } | undefined) {
  return {
    fetch_after_attempt: false,
    destination: { numbers: agent ? [agent.number] : [] },
    ...(agent ? { outgoing_phone_number: agent.callerId, record: true, recording_channels: 'dual', max_ringing_duration: agent.timeoutSeconds } : {}),
  };
}

/** The Greeting applet's body: what the engine said when the call ended, as text or a WAV URL line (§5.5). */
export function closingText(reply: Reply, { flow, language, context, audio }: Render): string {
  const closing = speech(flow, language, reply.say, context, audio);
  return 'audio' in closing ? closing.audio : closing.text;
}
