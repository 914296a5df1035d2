// The vendor order call (seed 003): the vendor hears the order and answers 1 accept, 2 cancel,
// 3 set the preparation time in minutes (then the minutes and #). 9 switches the language; the agent key
// (AGENT_KEY, when AGENT_NUMBER is set) reaches a human.
import { COMMON_PROMPTS, LANGUAGE_KEY, type LanguageOffer, MINUTES as minutes, ONE_KEY as oneKey } from './common.js';
import type { Flow } from './types.js';

type Prompt =
  | 'intro' | 'menu' | 'menu_no_input' | 'menu_invalid'
  | 'prep_time' | 'prep_time_no_input' | 'prep_time_invalid'
  | 'accepted' | 'cancelled' | 'prep_time_set' | 'no_response' | 'no_valid_answer' | 'apology' | 'agent_connecting' | LanguageOffer;

export const vendorOrder: Flow<Prompt> = {
  name: 'vendor_order',
  startSlug: 'vendor-greeting',
  intro: 'intro',
  apology: 'apology',
  noValidAnswer: 'no_valid_answer',
  agentConnecting: 'agent_connecting',
  languageChoice: LANGUAGE_KEY,
  // Recorded prompts (PROMPTS_DIR/<language>/<clip>.wav): the greeting leaves out the vendor's name, which no
  // clip can say; ids and amounts are spoken digit by digit from the clips 0-9.
  audio: {
    intro: [{ clip: 'new_order' }, { clip: 'order_number' }, { digits: 'order_id' }, { clip: 'amount' }, { digits: 'order_amount' }, { clip: 'rupees' }],
    menu: [{ clip: 'menu' }],
    menu_no_input: [{ clip: 'menu_no_input' }],
    menu_invalid: [{ clip: 'menu_invalid' }],
    prep_time: [{ clip: 'prep_time' }],
    prep_time_no_input: [{ clip: 'prep_time_no_input' }],
    prep_time_invalid: [{ clip: 'prep_time_invalid' }],
    accepted: [{ clip: 'accepted' }],
    cancelled: [{ clip: 'cancelled' }],
    prep_time_set: [{ clip: 'prep_time_is' }, { digits: 'prep_time_minutes' }, { clip: 'minutes_set' }],
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
      slug: 'vendor-action',
      question: 'menu',
      input: oneKey,
      retries: { noInput: 2, invalid: 2 },
      noInputPrompt: 'menu_no_input',
      invalidPrompt: 'menu_invalid',
      exhausted: { end: 'no_response', closing: 'no_response' },
      choices: {
        '1': { end: 'accepted', closing: 'accepted' },
        '2': { end: 'cancelled', closing: 'cancelled' },
        '3': { next: 'prep_time' },
      },
    },
    prep_time: {
      kind: 'number',
      slug: 'vendor-processing-time',
      question: 'prep_time',
      input: minutes,
      retries: { noInput: 2, invalid: 2 },
      noInputPrompt: 'prep_time_no_input',
      invalidPrompt: 'prep_time_invalid',
      // Never a silent default: without a valid time the order is not confirmed.
      exhausted: { end: 'no_response', closing: 'no_response' },
      min: 1,
      max: 180,
      saveAs: 'prep_time_minutes',
      then: { end: 'accepted', closing: 'prep_time_set' },
    },
  },
  prompts: {
    'hi-IN': {
      ...COMMON_PROMPTS['hi-IN'],
      intro: 'नमस्ते {vendor_name} जी! आपके लिए एक नया ऑर्डर है। ऑर्डर नंबर {order_id}। राशि {order_amount|money} रुपये।[ सामान: {items}।]',
      menu: 'ऑर्डर स्वीकार करने के लिए 1 दबाएं। ऑर्डर रद्द करने के लिए 2 दबाएं। तैयारी का समय बताने के लिए 3 दबाएं।',
      prep_time: 'तैयारी का समय मिनटों में दबाएं, फिर हैश दबाएं। जैसे 20 मिनट के लिए 2 0 और हैश।',
      prep_time_no_input: 'हमें समय नहीं मिला।',
      prep_time_invalid: 'समय 1 से 180 मिनट के बीच होना चाहिए।',
      accepted: 'धन्यवाद! ऑर्डर स्वीकार हो गया है।',
      cancelled: 'ऑर्डर रद्द कर दिया गया है। धन्यवाद।',
      prep_time_set: 'तैयारी का समय {prep_time_minutes|number} मिनट सेट हो गया है। ऑर्डर कन्फ़र्म हो गया। धन्यवाद!',
    },
    'hi-Latn': {
      ...COMMON_PROMPTS['hi-Latn'],
      intro: 'Namaste {vendor_name} ji! Aapke liye ek naya order hai. Order number {order_id}. Raashi {order_amount|money} rupaye.[ Saamaan: {items}.]',
      menu: 'Order sweekar karne ke liye 1 dabaayein. Order radd karne ke liye 2 dabaayein. Taiyaari ka samay batane ke liye 3 dabaayein.',
      prep_time: 'Taiyaari ka samay minute mein dabaayein, phir hash dabaayein. Jaise 20 minute ke liye 2 0 aur hash.',
      prep_time_no_input: 'Humein samay nahin mila.',
      prep_time_invalid: 'Samay 1 se 180 minute ke beech hona chahiye.',
      accepted: 'Dhanyavaad! Order sweekar ho gaya hai.',
      cancelled: 'Order radd kar diya gaya hai. Dhanyavaad.',
      prep_time_set: 'Taiyaari ka samay {prep_time_minutes|number} minute set ho gaya hai. Order confirm ho gaya. Dhanyavaad!',
    },
    'en-IN': {
      ...COMMON_PROMPTS['en-IN'],
      intro: 'Hello {vendor_name}! You have a new order. Order number {order_id}. Amount {order_amount|money} rupees.[ Items: {items}.]',
      menu: 'To accept the order, press 1. To cancel it, press 2. To set the preparation time, press 3.',
      prep_time: 'Enter the preparation time in minutes, then press hash. For 20 minutes, press 2 0 and hash.',
      prep_time_no_input: 'We did not get the time.',
      prep_time_invalid: 'The time must be between 1 and 180 minutes.',
      accepted: 'Thank you! The order is accepted.',
      cancelled: 'The order is cancelled. Thank you.',
      prep_time_set: 'Preparation time set to {prep_time_minutes|number} minutes. The order is confirmed. Thank you!',
    },
    'mr-IN': {
      ...COMMON_PROMPTS['mr-IN'],
      intro: 'नमस्कार {vendor_name} जी! तुमच्यासाठी एक नवीन ऑर्डर आहे. ऑर्डर क्रमांक {order_id}. रक्कम {order_amount|money} रुपये.[ सामान: {items}.]',
      menu: 'ऑर्डर स्वीकारण्यासाठी 1 दाबा. ऑर्डर रद्द करण्यासाठी 2 दाबा. तयारीचा वेळ सांगण्यासाठी 3 दाबा.',
      prep_time: 'तयारीचा वेळ मिनिटांमध्ये दाबा, नंतर हॅश दाबा. उदाहरणार्थ 20 मिनिटांसाठी 2 0 आणि हॅश.',
      prep_time_no_input: 'आम्हाला वेळ मिळाला नाही.',
      prep_time_invalid: 'वेळ 1 ते 180 मिनिटांच्या दरम्यान असावा.',
      accepted: 'धन्यवाद! ऑर्डर स्वीकारली गेली आहे.',
      cancelled: 'ऑर्डर रद्द करण्यात आली आहे. धन्यवाद.',
      prep_time_set: 'तयारीचा वेळ {prep_time_minutes|number} मिनिटे ठरला आहे. ऑर्डर निश्चित झाली. धन्यवाद!',
    },
  },
};
