// What the flows share: how a menu key and a number of minutes are typed, and the language key.
import type { Flow, InputSpec } from './types.js';

export const ONE_KEY: InputSpec = { maxDigits: 1, finishOnKey: '', timeoutSeconds: 6 };
export const MINUTES: InputSpec = { maxDigits: 3, finishOnKey: '#', timeoutSeconds: 6 };

/** 9 at any menu: English from the Indian languages, Hindi from English. */
export const LANGUAGE_KEY: NonNullable<Flow['languageChoice']> = {
  key: '9',
  to: { 'hi-IN': 'en-IN', 'hi-Latn': 'en-IN', 'mr-IN': 'en-IN', 'en-IN': 'hi-IN' },
};
