// The one place that builds ExoML. One typed function per verb (after twilio-node's TwiML builder); the
// types say what may nest (a Gather holds only Say and Play). xmlbuilder2 escapes every text and attribute,
// and characters XML cannot carry at all are dropped here, so no input can break the document.
// Verbs and attributes: reference §4.1 (exotel/goexoml).
import { create } from 'xmlbuilder2';
import type { XMLBuilder } from 'xmlbuilder2/lib/interfaces.js';

export type SayLanguage = 'hi-IN' | 'en-IN' | 'mr-IN';

export interface Say { verb: 'Say'; text: string; language: SayLanguage; voice?: 'female' | 'male' }
export interface Play { verb: 'Play'; url: string }
export interface Gather {
  verb: 'Gather';
  action: string;
  method: 'GET' | 'POST';
  numDigits: number;
  timeout: number;
  finishOnKey?: string;
  prompts: Array<Say | Play>;
}
export interface Redirect { verb: 'Redirect'; url: string; method: 'GET' | 'POST' }
export interface Hangup { verb: 'Hangup' }
/** Connects the caller to another number (reference §4.1); Exotel posts DialCallStatus to `action`. */
export interface Dial { verb: 'Dial'; number: string; callerId: string; timeout: number; record: boolean; action: string; method: 'GET' | 'POST' }
export type Verb = Say | Play | Gather | Redirect | Hangup | Dial;

export const say = (text: string, language: SayLanguage, voice?: Say['voice']): Say =>
  voice ? { verb: 'Say', text, language, voice } : { verb: 'Say', text, language };
export const play = (url: string): Play => ({ verb: 'Play', url });
export const gather = (attrs: Omit<Gather, 'verb' | 'prompts'>, prompts: Array<Say | Play>): Gather => ({ verb: 'Gather', ...attrs, prompts });
export const redirect = (url: string, method: Redirect['method'] = 'POST'): Redirect => ({ verb: 'Redirect', url, method });
export const hangup = (): Hangup => ({ verb: 'Hangup' });
export const dial = (attrs: Omit<Dial, 'verb'>): Dial => ({ verb: 'Dial', ...attrs });

// XML 1.0 allows tab, newline, carriage return and the ranges below; anything else (NUL, other control
// characters, lone surrogates, U+FFFE/U+FFFF) makes a document no parser accepts.
const NOT_XML_CHAR = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu;
export const xmlSafe = (text: string): string => text.replace(NOT_XML_CHAR, '');

export function exomlDocument(verbs: Verb[]): string {
  const response = create({ version: '1.0', encoding: 'UTF-8' }).ele('Response');
  for (const verb of verbs) append(response, verb);
  return response.end({ prettyPrint: false });
}

function append(parent: XMLBuilder, verb: Verb): void {
  switch (verb.verb) {
    case 'Say': {
      const attrs: Record<string, string> = { language: verb.language };
      if (verb.voice) attrs.voice = verb.voice;
      parent.ele('Say', attrs).txt(xmlSafe(verb.text));
      return;
    }
    case 'Play':
      parent.ele('Play').txt(xmlSafe(verb.url));
      return;
    case 'Gather': {
      const attrs: Record<string, string> = {
        action: xmlSafe(verb.action),
        method: verb.method,
        numDigits: String(verb.numDigits),
        timeout: String(verb.timeout),
      };
      if (verb.finishOnKey !== undefined) attrs.finishOnKey = verb.finishOnKey;
      const node = parent.ele('Gather', attrs);
      for (const prompt of verb.prompts) append(node, prompt);
      return;
    }
    case 'Redirect':
      parent.ele('Redirect', { method: verb.method }).txt(xmlSafe(verb.url));
      return;
    case 'Hangup':
      parent.ele('Hangup');
      return;
    case 'Dial':
      parent
        .ele('Dial', {
          action: xmlSafe(verb.action),
          method: verb.method,
          callerId: verb.callerId,
          timeout: String(verb.timeout),
          record: String(verb.record),
        })
        .txt(xmlSafe(verb.number));
      return;
  }
}
