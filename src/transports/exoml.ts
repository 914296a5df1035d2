// ExoML mode: renders the engine's reply as an ExoML document. A question becomes a Gather whose action
// is the step's URL; after the Gather comes a Redirect to the same URL, because Exotel falls through to
// the next verb when nothing is pressed, and a request without digits is how the engine hears silence.
import type { Flow, Language, Reply } from '../flows/types.js';
import { promptText, speech, type AudioRenderer, type PromptContext, type Speech } from '../flows/prompts.js';
import { dial, exomlDocument, gather, hangup, play, redirect, say, type Play, type Say, type SayLanguage, type Verb } from './exoml-builder.js';

export interface ExomlRender {
  flow: Flow;
  language: Language;
  context: PromptContext;
  /** The signed URL that takes the answer to the reply's question. */
  actionUrl?: string;
  /** For a transfer: the agent to dial, and the signed URL Exotel reports the agent leg to. */
  agent?: { number: string; callerId: string; timeoutSeconds: number; statusUrl: string } | undefined;
  /** Recorded prompts, where the flow has them: <Play> instead of <Say>. */
  audio?: AudioRenderer | undefined;
}

/** The Say language for a prompt catalogue: romanised Hindi is still Hindi to Exotel's voice. */
export const sayLanguage = (language: Language): SayLanguage => (language === 'hi-Latn' ? 'hi-IN' : language);

export function renderExoml(reply: Reply, { flow, language, context, actionUrl, agent, audio }: ExomlRender): string {
  const verbs: Verb[] = [];
  const voice = sayLanguage(language);
  const spoken = (s: Speech): Say | Play => ('audio' in s ? play(s.audio) : say(s.text, voice));
  if (reply.say.length > 0) verbs.push(spoken(speech(flow, language, reply.say, context, audio)));
  if (reply.kind === 'transfer' && agent) {
    verbs.push(dial({ number: agent.number, callerId: agent.callerId, timeout: agent.timeoutSeconds, record: true, action: agent.statusUrl, method: 'POST' }), hangup());
    return exomlDocument(verbs);
  }
  if (reply.kind !== 'ask' || !actionUrl) {
    verbs.push(hangup());
    return exomlDocument(verbs);
  }
  verbs.push(
    gather(
      {
        action: actionUrl,
        method: 'POST',
        numDigits: reply.input.maxDigits,
        timeout: reply.input.timeoutSeconds,
        ...(reply.input.finishOnKey ? { finishOnKey: reply.input.finishOnKey } : {}),
      },
      [spoken(speech(flow, language, reply.question, context, audio))],
    ),
    redirect(actionUrl),
  );
  return exomlDocument(verbs);
}

/** What a caller hears when our server cannot go on: an apology and a hang-up, never dead air. */
export function apologyExoml(flow: Flow, language: Language): string {
  return exomlDocument([say(promptText(flow, language, flow.apology, {}), sayLanguage(language)), hangup()]);
}
