// ExoML mode: renders the engine's reply as an ExoML document. A question becomes a Gather whose action
// is the step's URL; after the Gather comes a Redirect to the same URL, because Exotel falls through to
// the next verb when nothing is pressed, and a request without digits is how the engine hears silence.
import type { Flow, Language, Reply } from '../flows/types.js';
import { promptsText, promptText, type PromptContext } from '../flows/prompts.js';
import { dial, exomlDocument, gather, hangup, redirect, say, type SayLanguage, type Verb } from './exoml-builder.js';

export interface ExomlRender {
  flow: Flow;
  language: Language;
  context: PromptContext;
  /** The signed URL that takes the answer to the reply's question. */
  actionUrl?: string;
  /** For a transfer: the agent to dial, and the signed URL Exotel reports the agent leg to. */
  agent?: { number: string; callerId: string; timeoutSeconds: number; statusUrl: string } | undefined;
}

/** The Say language for a prompt catalogue: romanised Hindi is still Hindi to Exotel's voice. */
export const sayLanguage = (language: Language): SayLanguage => (language === 'hi-Latn' ? 'hi-IN' : language);

export function renderExoml(reply: Reply, { flow, language, context, actionUrl, agent }: ExomlRender): string {
  const verbs: Verb[] = [];
  const voice = sayLanguage(language);
  if (reply.say.length > 0) verbs.push(say(promptsText(flow, language, reply.say, context), voice));
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
      [say(promptText(flow, language, reply.question, context), voice)],
    ),
    redirect(actionUrl),
  );
  return exomlDocument(verbs);
}

/** What a caller hears when our server cannot go on: an apology and a hang-up, never dead air. */
export function apologyExoml(flow: Flow, language: Language): string {
  return exomlDocument([say(promptText(flow, language, flow.apology, {}), sayLanguage(language)), hangup()]);
}
