// The vendor order call (seed 003): the vendor hears the order and answers 1 accept, 2 cancel,
// 3 set the preparation time in minutes (then the minutes and #).
import type { Flow, InputSpec } from './types.js';

const oneKey: InputSpec = { maxDigits: 1, finishOnKey: '', timeoutSeconds: 6 };
const minutes: InputSpec = { maxDigits: 3, finishOnKey: '#', timeoutSeconds: 6 };

type Prompt =
  | 'intro' | 'menu' | 'menu_no_input' | 'menu_invalid'
  | 'prep_time' | 'prep_time_no_input' | 'prep_time_invalid'
  | 'accepted' | 'cancelled' | 'prep_time_set' | 'no_response' | 'apology';

export const vendorOrder: Flow<Prompt> = {
  name: 'vendor_order',
  startSlug: 'vendor-greeting',
  intro: 'intro',
  apology: 'apology',
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
      intro: 'नमस्ते {vendor_name} जी! आपके लिए एक नया ऑर्डर है। ऑर्डर नंबर {order_id}। राशि {order_amount} रुपये। सामान: {items}।',
      menu: 'ऑर्डर स्वीकार करने के लिए 1 दबाएं। ऑर्डर रद्द करने के लिए 2 दबाएं। तैयारी का समय बताने के लिए 3 दबाएं।',
      menu_no_input: 'हमें आपका जवाब नहीं मिला।',
      menu_invalid: 'यह विकल्प मान्य नहीं है।',
      prep_time: 'तैयारी का समय मिनटों में दबाएं, फिर हैश दबाएं। जैसे 20 मिनट के लिए 2 0 और हैश।',
      prep_time_no_input: 'हमें समय नहीं मिला।',
      prep_time_invalid: 'समय 1 से 180 मिनट के बीच होना चाहिए।',
      accepted: 'धन्यवाद! ऑर्डर स्वीकार हो गया है।',
      cancelled: 'ऑर्डर रद्द कर दिया गया है। धन्यवाद।',
      prep_time_set: 'तैयारी का समय {prep_time_minutes} मिनट सेट हो गया है। ऑर्डर कन्फ़र्म हो गया। धन्यवाद!',
      no_response: 'हमें कोई जवाब नहीं मिला। कॉल समाप्त की जा रही है। धन्यवाद।',
      apology: 'क्षमा करें, तकनीकी समस्या के कारण कॉल समाप्त की जा रही है। हम आपसे फिर संपर्क करेंगे।',
    },
  },
};
