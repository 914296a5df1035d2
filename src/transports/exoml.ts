// ExoML mode: renders the engine's reply as an ExoML document. A question becomes a Gather whose action
// is the step's URL; after the Gather comes a Redirect to the same URL, because Exotel falls through to
// the next verb when nothing is pressed, and a request without digits is how the engine hears silence.
import type { Flow, Language, Reply } from '../flows/types.js';
import { promptsText, promptText, type PromptContext } from '../flows/prompts.js';
import { exomlDocument, gather, hangup, redirect, say, type Verb } from './exoml-builder.js';

export interface ExomlRender {
  flow: Flow;
  language: Language;
  context: PromptContext;
  /** The signed URL that takes the answer to the reply's question. */
  actionUrl?: string;
}

export function renderExoml(reply: Reply, { flow, language, context, actionUrl }: ExomlRender): string {
  const verbs: Verb[] = [];
  if (reply.say.length > 0) verbs.push(say(promptsText(flow, language, reply.say, context), language));
  if (reply.kind === 'end' || !actionUrl) {
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
      [say(promptText(flow, language, reply.question, context), language)],
    ),
    redirect(actionUrl),
  );
  return exomlDocument(verbs);
}

/** What a caller hears when our server cannot go on: an apology and a hang-up, never dead air. */
export function apologyExoml(flow: Flow, language: Language): string {
  return exomlDocument([say(promptText(flow, language, flow.apology, {}), language), hangup()]);
}
