// The rider delivery call (seed 003's next flow): the rider hears the order's pickup and drop and answers
// 1 picked up, 2 delayed (then the minutes and #), 3 a problem (to a human agent when one is configured).
import { COMMON_PROMPTS, LANGUAGE_KEY, type LanguageOffer, MINUTES as minutes, ONE_KEY as oneKey } from './common.js';
import type { Flow } from './types.js';

type Prompt =
  | 'intro' | 'menu' | 'menu_no_input' | 'menu_invalid'
  | 'delay' | 'delay_no_input' | 'delay_invalid'
  | 'picked_up' | 'delay_set' | 'problem_noted' | 'no_response' | 'no_valid_answer' | 'apology' | 'agent_connecting' | LanguageOffer;

export const riderDelivery: Flow<Prompt> = {
  name: 'rider_delivery',
  startSlug: 'rider-greeting',
  intro: 'intro',
  apology: 'apology',
  noValidAnswer: 'no_valid_answer',
  agentConnecting: 'agent_connecting',
  languageChoice: LANGUAGE_KEY,
  // Recorded prompts (PROMPTS_DIR/<language>/<clip>.wav): names and addresses have no clip, so the intro says
  // the order number only; the Voicebot transport can speak nothing else.
  audio: {
    intro: [{ clip: 'rider_delivery' }, { clip: 'order_number' }, { digits: 'order_id' }],
    menu: [{ clip: 'rider_menu' }],
    menu_no_input: [{ clip: 'menu_no_input' }],
    menu_invalid: [{ clip: 'menu_invalid' }],
    delay: [{ clip: 'delay' }],
    delay_no_input: [{ clip: 'delay_no_input' }],
    delay_invalid: [{ clip: 'delay_invalid' }],
    picked_up: [{ clip: 'picked_up' }],
    delay_set: [{ clip: 'delay_is' }, { digits: 'delay_minutes' }, { clip: 'minutes_recorded' }],
    problem_noted: [{ clip: 'problem_noted' }],
    no_response: [{ clip: 'no_response' }],
    no_valid_answer: [{ clip: 'no_valid_answer' }],
    apology: [{ clip: 'apology' }],
    agent_connecting: [{ clip: 'agent_connecting' }],
    offer_hindi: [{ clip: 'offer_hindi' }],
    offer_english: [{ clip: 'offer_english' }],
    offer_marathi: [{ clip: 'offer_marathi' }],
  },
  firstStep: 'menu',
  steps: {
    menu: {
      kind: 'choice',
      slug: 'rider-action',
      question: 'menu',
      input: oneKey,
      retries: { noInput: 2, invalid: 2 },
      noInputPrompt: 'menu_no_input',
      invalidPrompt: 'menu_invalid',
      exhausted: { end: 'no_response', closing: 'no_response' },
      choices: {
        '1': { end: 'picked_up', closing: 'picked_up' },
        '2': { next: 'delay' },
        '3': { transfer: true, otherwise: { end: 'problem', closing: 'problem_noted' } },
      },
    },
    delay: {
      kind: 'number',
      slug: 'rider-delay-time',
      question: 'delay',
      input: minutes,
      retries: { noInput: 2, invalid: 2 },
      noInputPrompt: 'delay_no_input',
      invalidPrompt: 'delay_invalid',
      exhausted: { end: 'no_response', closing: 'no_response' },
      min: 1,
      max: 240,
      saveAs: 'delay_minutes',
      then: { end: 'delayed', closing: 'delay_set' },
    },
  },
  prompts: {
    'hi-IN': {
      ...COMMON_PROMPTS['hi-IN'],
      intro: 'नमस्ते {rider_name} जी! ऑर्डर नंबर {order_id} की डिलीवरी। पिकअप: {pickup}। ड्रॉप: {drop}।',
      menu: 'ऑर्डर उठा लिया हो तो 1 दबाएं। देर हो रही हो तो 2 दबाएं। कोई समस्या हो तो 3 दबाएं।',
      delay: 'कितने मिनट की देर है, दबाएं, फिर हैश दबाएं।',
      delay_no_input: 'हमें समय नहीं मिला।',
      delay_invalid: 'देर 1 से 240 मिनट के बीच होनी चाहिए।',
      picked_up: 'धन्यवाद! पिकअप दर्ज हो गया है।',
      delay_set: '{delay_minutes|number} मिनट की देर दर्ज हो गई है। धन्यवाद।',
      problem_noted: 'आपकी समस्या दर्ज हो गई है। हमारी टीम आपसे संपर्क करेगी।',
    },
    'hi-Latn': {
      ...COMMON_PROMPTS['hi-Latn'],
      intro: 'Namaste {rider_name} ji! Order number {order_id} ki delivery. Pickup: {pickup}. Drop: {drop}.',
      menu: 'Order utha liya ho to 1 dabaayein. Der ho rahi ho to 2 dabaayein. Koi samasya ho to 3 dabaayein.',
      delay: 'Kitne minute ki der hai, dabaayein, phir hash dabaayein.',
      delay_no_input: 'Humein samay nahin mila.',
      delay_invalid: 'Der 1 se 240 minute ke beech honi chahiye.',
      picked_up: 'Dhanyavaad! Pickup darj ho gaya hai.',
      delay_set: '{delay_minutes|number} minute ki der darj ho gayi hai. Dhanyavaad.',
      problem_noted: 'Aapki samasya darj ho gayi hai. Hamari team aapse sampark karegi.',
    },
    'en-IN': {
      ...COMMON_PROMPTS['en-IN'],
      intro: 'Hello {rider_name}! Delivery of order number {order_id}. Pickup: {pickup}. Drop: {drop}.',
      menu: 'If you have picked up the order, press 1. If you are delayed, press 2. For a problem, press 3.',
      delay: 'Enter the delay in minutes, then press hash.',
      delay_no_input: 'We did not get the time.',
      delay_invalid: 'The delay must be between 1 and 240 minutes.',
      picked_up: 'Thank you! The pickup is recorded.',
      delay_set: 'A delay of {delay_minutes|number} minutes is recorded. Thank you.',
      problem_noted: 'Your problem is recorded. Our team will contact you.',
    },
    'mr-IN': {
      ...COMMON_PROMPTS['mr-IN'],
      intro: 'नमस्कार {rider_name} जी! ऑर्डर क्रमांक {order_id} ची डिलिव्हरी. पिकअप: {pickup}. ड्रॉप: {drop}.',
      menu: 'ऑर्डर घेतली असल्यास 1 दाबा. उशीर होत असल्यास 2 दाबा. काही अडचण असल्यास 3 दाबा.',
      delay: 'किती मिनिटे उशीर आहे ते दाबा, नंतर हॅश दाबा.',
      delay_no_input: 'आम्हाला वेळ मिळाला नाही.',
      delay_invalid: 'उशीर 1 ते 240 मिनिटांच्या दरम्यान असावा.',
      picked_up: 'धन्यवाद! पिकअप नोंदवला आहे.',
      delay_set: '{delay_minutes|number} मिनिटांचा उशीर नोंदवला आहे. धन्यवाद.',
      problem_noted: 'तुमची अडचण नोंदवली आहे. आमची टीम तुमच्याशी संपर्क करेल.',
    },
  },
};
