// The one place that builds ExoML. One typed function per verb (after twilio-node's TwiML builder); the
// types say what may nest (a Gather holds only Say and Play). xmlbuilder2 builds the markup (once per shape
// of document, see exomlDocument); every text and URL is escaped into it here, and characters XML cannot
// carry at all are dropped, so no input can break the document.
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

/**
 * The document for these verbs. xmlbuilder2 builds each shape of document once (the verbs and their fixed
 * attributes, with a marker where each text or URL goes); a request then only escapes its own texts and
 * URLs into that compiled template. Building the whole tree per request cost more than the rest of a step.
 */
export function exomlDocument(verbs: Verb[]): string {
  const values: string[] = [];
  // The shape: the verbs with every text and URL emptied (those go to `values`, in document order).
  const shape = JSON.stringify(verbs.map((verb) => withValues(verb, (value) => (values.push(value), ''))));
  let template = templates.get(shape);
  if (!template) {
    let next = 0;
    template = compile(verbs.map((verb) => withValues(verb, () => slot(next++))));
    if (templates.size >= MAX_TEMPLATES) templates.clear();
    templates.set(shape, template);
  }
  let document = template.parts[0]!;
  for (let i = 0; i < values.length; i++) {
    const value = xmlSafe(values[i]!);
    document += (template.inAttribute[i] ? escapeAttribute(value) : escapeText(value)) + template.parts[i + 1]!;
  }
  return document;
}

interface Template {
  /** The document cut at each slot: slots + 1 pieces. */
  parts: string[];
  /** Whether slot i is inside an attribute value (else a text node). */
  inAttribute: boolean[];
}

// Shapes are few (flows × languages × kinds of reply); the bound only guards against a bug making many.
const MAX_TEMPLATES = 1_000;
const templates = new Map<string, Template>();
// Private-use characters: valid XML that xmlbuilder2 leaves alone, and never in a shape's fixed parts.
const SLOT = /\uE000(\d+)\uE001/g;
const slot = (i: number) => `\uE000${i}\uE001`;

/** The verb with each of its texts and URLs replaced by `value(it)`, taken in document order. */
function withValues(verb: Verb, value: (text: string) => string): Verb {
  switch (verb.verb) {
    case 'Say':
      return { ...verb, text: value(verb.text) };
    case 'Play':
      return { ...verb, url: value(verb.url) };
    case 'Gather': {
      const action = value(verb.action);
      return { ...verb, action, prompts: verb.prompts.map((p) => withValues(p, value) as Say | Play) };
    }
    case 'Redirect':
      return { ...verb, url: value(verb.url) };
    case 'Hangup':
      return verb;
    case 'Dial': {
      const action = value(verb.action);
      const callerId = value(verb.callerId);
      return { ...verb, action, callerId, number: value(verb.number) };
    }
  }
}

/** Builds the document once with xmlbuilder2 (markers in place of the values) and cuts it at the markers. */
function compile(verbs: Verb[]): Template {
  const response = create({ version: '1.0', encoding: 'UTF-8' }).ele('Response');
  for (const verb of verbs) append(response, verb);
  const xml = response.end({ prettyPrint: false });
  const parts: string[] = [];
  const inAttribute: boolean[] = [];
  let last = 0;
  for (const match of xml.matchAll(SLOT)) {
    const before = xml.slice(last, match.index);
    parts.push(before);
    // Inside an attribute when the last quote opened after the last tag end.
    inAttribute.push(before.lastIndexOf('"') > before.lastIndexOf('>'));
    last = match.index + match[0].length;
  }
  parts.push(xml.slice(last));
  return { parts, inAttribute };
}

const escapeText = (text: string) => text.replace(/[&<>]/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : '&gt;'));
const escapeAttribute = (text: string) =>
  text.replace(/[&<>"\t\n\r]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', '\t': '&#x9;', '\n': '&#xA;', '\r': '&#xD;' })[c]!);

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
