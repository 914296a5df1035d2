// What the flows share: how a menu key and a number of minutes are typed, and the language key.
import type { Flow, InputSpec, Language } from './types.js';

export const ONE_KEY: InputSpec = { maxDigits: 1, finishOnKey: '', timeoutSeconds: 6 };
export const MINUTES: InputSpec = { maxDigits: 3, finishOnKey: '#', timeoutSeconds: 6 };

/** The words that close a menu: the language key and where it leads. */
export type LanguageOffer = 'offer_hindi' | 'offer_english' | 'offer_marathi';

/**
 * 9 at any menu: English from the Indian languages; from English, back to the language the call began in
 * (Hindi when it began in English). The menu's last words name where 9 leads.
 */
export const LANGUAGE_KEY: NonNullable<Flow<LanguageOffer>['languageChoice']> = {
  key: '9',
  to: { 'hi-IN': 'en-IN', 'hi-Latn': 'en-IN', 'mr-IN': 'en-IN', 'en-IN': 'hi-IN' },
  offer: { 'hi-IN': 'offer_hindi', 'hi-Latn': 'offer_hindi', 'en-IN': 'offer_english', 'mr-IN': 'offer_marathi' },
};

/** Words every flow says alike, per language. */
export const COMMON_PROMPTS: Record<Language, Record<'menu_no_input' | 'menu_invalid' | 'no_response' | 'no_valid_answer' | 'apology' | 'agent_connecting' | LanguageOffer, string>> = {
  'hi-IN': {
    menu_no_input: 'हमें आपका जवाब नहीं मिला।',
    menu_invalid: 'यह विकल्प मान्य नहीं है।',
    no_response: 'हमें कोई जवाब नहीं मिला। कॉल समाप्त की जा रही है। धन्यवाद।',
    no_valid_answer: 'हमें मान्य जवाब नहीं मिला। कॉल समाप्त की जा रही है। धन्यवाद।',
    apology: 'क्षमा करें, तकनीकी समस्या के कारण कॉल समाप्त की जा रही है। हम आपसे फिर संपर्क करेंगे।',
    agent_connecting: 'कृपया रुकें, आपको हमारे सहायक से जोड़ा जा रहा है।',
    offer_hindi: 'हिंदी के लिए 9 दबाएं।',
    offer_english: 'English के लिए 9 दबाएं।',
    offer_marathi: 'मराठी के लिए 9 दबाएं।',
  },
  'hi-Latn': {
    menu_no_input: 'Humein aapka jawaab nahin mila.',
    menu_invalid: 'Yeh vikalp maanya nahin hai.',
    no_response: 'Humein koi jawaab nahin mila. Call samaapt ki ja rahi hai. Dhanyavaad.',
    no_valid_answer: 'Humein maanya jawaab nahin mila. Call samaapt ki ja rahi hai. Dhanyavaad.',
    apology: 'Kshama karein, takneeki samasya ke kaaran call samaapt ki ja rahi hai. Hum aapse phir sampark karenge.',
    agent_connecting: 'Kripya rukein, aapko hamare sahaayak se joda ja raha hai.',
    offer_hindi: 'Hindi ke liye 9 dabaayein.',
    offer_english: 'English ke liye 9 dabaayein.',
    offer_marathi: 'Marathi ke liye 9 dabaayein.',
  },
  'en-IN': {
    menu_no_input: 'We did not get your answer.',
    menu_invalid: 'That key is not an option.',
    no_response: 'We did not get an answer. Ending the call. Thank you.',
    no_valid_answer: 'We did not get a valid answer. Ending the call. Thank you.',
    apology: 'Sorry, a technical problem is ending this call. We will contact you again.',
    agent_connecting: 'Please hold while we connect you to our team.',
    offer_hindi: 'For Hindi, press 9.',
    offer_english: 'For English, press 9.',
    offer_marathi: 'For Marathi, press 9.',
  },
  'mr-IN': {
    menu_no_input: 'आम्हाला तुमचे उत्तर मिळाले नाही.',
    menu_invalid: 'हा पर्याय वैध नाही.',
    no_response: 'आम्हाला कोणतेही उत्तर मिळाले नाही. कॉल संपवत आहोत. धन्यवाद.',
    no_valid_answer: 'आम्हाला वैध उत्तर मिळाले नाही. कॉल संपवत आहोत. धन्यवाद.',
    apology: 'क्षमस्व, तांत्रिक अडचणीमुळे कॉल संपवत आहोत. आम्ही तुमच्याशी पुन्हा संपर्क करू.',
    agent_connecting: 'कृपया थांबा, तुम्हाला आमच्या सहाय्यकाशी जोडत आहोत.',
    offer_hindi: 'हिंदीसाठी 9 दाबा.',
    offer_english: 'English साठी 9 दाबा.',
    offer_marathi: 'मराठीसाठी 9 दाबा.',
  },
};
