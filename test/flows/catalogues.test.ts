// Every prompt every flow can say exists in every language, with the same placeholders: a missing or
// half-translated prompt fails the build.
import { describe, expect, it } from 'vitest';
import { FLOWS } from '../../src/flows/registry.js';
import { formatNumber } from '../../src/flows/prompts.js';
import { LANGUAGES, type Flow, type Transition } from '../../src/flows/types.js';

function promptsUsed(flow: Flow): Set<string> {
  const used = new Set([flow.intro, flow.apology, flow.agentConnecting, flow.noValidAnswer, ...Object.values(flow.languageChoice?.offer ?? {})]);
  const closing = (t: Transition) => {
    if ('end' in t) used.add(t.closing);
    if ('transfer' in t) used.add(t.otherwise.closing);
  };
  for (const step of Object.values(flow.steps)) {
    [step.question, step.noInputPrompt, step.invalidPrompt].forEach((p) => used.add(p));
    closing(step.exhausted);
    if (step.kind === 'choice') Object.values(step.choices).forEach(closing);
    else closing(step.then);
  }
  return used;
}
const placeholders = (text: string) => [...text.matchAll(/\{(\w+)(?:\|\w+)?\}/g)].map((m) => m[0]).sort();

describe.each(Object.values(FLOWS))('the $name flow', (flow) => {
  it.each(LANGUAGES)('has every prompt in %s, non-empty, with the placeholders of hi-IN', (language) => {
    const catalogue = flow.prompts[language] as Record<string, string>;
    const reference = flow.prompts['hi-IN'] as Record<string, string>;
    expect(catalogue, `${flow.name} has no ${language} catalogue`).toBeDefined();
    for (const name of [...promptsUsed(flow), ...Object.keys(reference)]) {
      expect(catalogue[name]?.trim(), `${flow.name} ${language} ${name}`).toBeTruthy();
      expect(placeholders(catalogue[name]!), `${flow.name} ${language} ${name}`).toEqual(placeholders(reference[name]!));
    }
    expect(Object.keys(catalogue).sort()).toEqual(Object.keys(reference).sort());
  });

  it('switches every language to another with its language key', () => {
    for (const language of LANGUAGES) expect(flow.languageChoice?.to[language]).not.toBe(language);
  });
});

describe('numbers as listeners expect them', () => {
  it.each([
    ['hi-IN', 125000, '1,25,000'],
    ['hi-Latn', 550, '550'],
    ['en-IN', 1234567.5, '12,34,567.5'],
    ['mr-IN', 125000, '१,२५,०००'],
  ] as const)('%s: %d → %s', (language, value, text) => {
    expect(formatNumber(value, language)).toBe(text);
  });
});

describe('the language key', () => {
  it('goes to English and back to the language the call began in, not to another', async () => {
    const { start, advance } = await import('../../src/flows/engine.js');
    const { vendorOrder } = await import('../../src/flows/vendor-order.js');
    const first = start(vendorOrder, 'hi-Latn').state;
    const english = advance(vendorOrder, first, { kind: 'digits', digits: '9' }).state;
    expect(english.language).toBe('en-IN');
    expect(advance(vendorOrder, english, { kind: 'digits', digits: '9' }).state.language).toBe('hi-Latn');
  });

  it('is offered at the end of each menu as the language it leads to, and not where it does nothing', async () => {
    const { start, advance } = await import('../../src/flows/engine.js');
    const { vendorOrder } = await import('../../src/flows/vendor-order.js');
    const marathi = start(vendorOrder, 'mr-IN');
    expect(marathi.reply).toMatchObject({ kind: 'ask', question: ['menu', 'offer_english'] });
    const english = advance(vendorOrder, marathi.state, { kind: 'digits', digits: '9' });
    expect(english.reply).toMatchObject({ kind: 'ask', question: ['menu', 'offer_marathi'] });
    const back = advance(vendorOrder, english.state, { kind: 'digits', digits: '9' });
    expect(back).toMatchObject({ state: { language: 'mr-IN' }, reply: { question: ['menu', 'offer_english'] } });
    expect(start(vendorOrder, 'en-IN').reply).toMatchObject({ question: ['menu', 'offer_hindi'] });
    // The minutes take no language key, so they offer none.
    expect(advance(vendorOrder, back.state, { kind: 'digits', digits: '3' }).reply).toMatchObject({ question: ['prep_time'] });
  });
});
