// What the backend sends to ask for a vendor call (and the fields every call request shares). It arrives as JSON, a form body or query parameters
// (the backend sends query parameters today), so every field is accepted as text and coerced here.
import { z } from 'zod';
import { LANGUAGES } from '../flows/types.js';
import { normalisePhone } from '../phone.js';
import { documentation } from './openapi.js';

// Printable text only: control characters (C0 and C1) would reach the vendor's ear, our logs and the ops
// terminal; bidi overrides would make the ops page show a name other than the one stored.
const CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]/;
// The same rules as JSON Schema patterns, for the OpenAPI document (api/openapi.ts): printable, and valid
// text (no U+FFFD, no half of a surrogate pair: NOT_TEXT); `LINE` also without tabs or line breaks.
const PRINTABLE = '[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F\\u202A-\\u202E\\u2066-\\u2069\\uFFFD\\uD800-\\uDFFF]';
const LINE = '[^\\u0000-\\u001F\\u007F-\\u009F\\u202A-\\u202E\\u2066-\\u2069\\uFFFD\\uD800-\\uDFFF]';
// Trimmed first, as zod does: the text between the first and the last non-blank character is what counts.
const trimmedText = (max: number, char: string) => `(?=\\S)${char}{0,${max}}(?<=\\S)`;
const documentedText = (max: number, char = PRINTABLE) => ({ type: 'string', pattern: `^\\s*${trimmedText(max, char)}\\s*$`, description: `at most ${max} characters once trimmed, not blank` });

// U+FFFD is what bytes that were not UTF-8 decode to; half a surrogate pair (JSON's "\uD800") has no UTF-8
// at all and would be stored as U+FFFD. Both are refused rather than spoken as garbage.
const NOT_TEXT = /[\uFFFD\uD800-\uDFFF]/u;
const validUtf8 = (value: string) => !NOT_TEXT.test(value);

const text = (max: number) =>
  z
    .string({ error: (issue) => (issue.input === undefined ? 'is required' : 'must be text') })
    .trim()
    .min(1, 'is required')
    .max(max, `must be at most ${max} characters`)
    .refine((value) => !CONTROL.test(value), 'must not contain control characters')
    .refine(validUtf8, 'must be valid UTF-8 text')
    .register(documentation, { schema: documentedText(max) });

// A JSON number given for a text field (an order id of digits) is taken as its digits, only when JSON carried
// it exactly: 12345678901234567890 arrives as 12345678901234567000, another order's id.
const scalar = (schema: z.ZodType) =>
  z.preprocess((value, ctx) => {
    if (typeof value !== 'number') return value;
    if (Number.isSafeInteger(value)) return String(value);
    ctx.addIssue({ code: 'custom', message: 'is a number JSON cannot carry exactly: send it as a string' });
    return z.NEVER;
  }, schema);

// Decimal digits only: Number() would also read "0x10" as 16 and "0b11" as 3.
const DECIMAL = /^-?(\d+(\.\d*)?|\.\d+)$/;

/**
 * An amount's decimal digits as a number, judged on the digits: Number() rounds "10000000.0000000001" to the
 * limit itself and "-0.…01" to -0, both of which would pass the range the digits are outside of.
 */
function amountFromText(text: string): number {
  if (!DECIMAL.test(text)) return NaN;
  if (text.startsWith('-')) return /[1-9]/.test(text) ? -1 : 0;
  return /^0*10000000\.\d*[1-9]/.test(text) ? 10_000_001 : Number(text);
}

// DECIMAL within 0 to 10,000,000 (and a negative zero, which is 0), for the OpenAPI document.
const AMOUNT_PATTERN = '^\\s*(?:-(?:0+(?:\\.0*)?|\\.0+)|0*\\d{1,7}(?:\\.\\d*)?|0*10000000(?:\\.0*)?|\\.\\d+)\\s*$';

// What normalisePhone accepts (phone.ts), as one JSON Schema pattern: separators anywhere; +91, 91 (twelve
// digits in all) or 0 before the ten national digits, which do not start with 0, 1800 or 1860.
const SEP = '[\\s\\-().]*';
const DIGITS = (n: number) => `(?:\\d${SEP}){${n}}`;
const PHONE_PATTERN = `^${SEP}(?:\\+${SEP}9${SEP}1${SEP}|9${SEP}1${SEP}(?=${DIGITS(10)}$)|0${SEP})?(?!1${SEP}8${SEP}[06]${SEP}0)[1-9]${SEP}${DIGITS(9)}$`;

// The fields that take a list (optionalText): a repeated form or query key is one, not an ambiguity.
const LIST_FIELDS = new WeakSet<z.ZodType>();

/** Optional free text (or a JSON list joined with ", "), printable, at most `max` characters. */
const optionalText = (max: number) => {
  const schema = z
    .union([z.string(), z.array(z.string())], { error: 'must be text or a list of texts' })
    .optional()
    .transform((value) => (Array.isArray(value) ? value.join(', ') : (value ?? '')).trim())
    // In characters (code points), as a name's limit counts them: an emoji is one.
    .refine((value) => [...value].length <= max, `must be at most ${max} characters`)
    .refine((value) => !CONTROL.test(value), 'must not contain control characters')
    .refine(validUtf8, 'must be valid UTF-8 text')
    .register(documentation, {
      schema: {
        anyOf: [
          { type: 'string', pattern: `^\\s*(?:${trimmedText(max, PRINTABLE)})?\\s*$` },
          { type: 'array', items: { type: 'string', pattern: `^${PRINTABLE}*$` } },
        ],
        description: `text, or a list of texts joined with ", ": at most ${max} characters`,
      },
    });
  LIST_FIELDS.add(schema);
  return schema;
};

/** The fields every call request shares, for each flow's request schema. */
export const callRequestFields = {
  phone: scalar(z.string({ error: (issue) => (issue.input === undefined ? 'is required' : 'must be a phone number, as text') }))
    .transform((value, ctx) => {
      const e164 = normalisePhone(value as string);
      if (!e164) {
        ctx.addIssue({ code: 'custom', message: 'must be an Indian mobile or landline number, e.g. +919812345678' });
        return z.NEVER;
      }
      return e164;
    })
    .register(documentation, {
      schema: {
        anyOf: [
          { type: 'string', pattern: PHONE_PATTERN },
          // Ten national digits, alone or after 91, never 1800… or 1860… (toll-free and shared-cost lines).
          ...[0, 910_000_000_000].flatMap((prefix) =>
            [
              [1_000_000_000, 1_799_999_999],
              [1_801_000_000, 1_859_999_999],
              [1_861_000_000, 9_999_999_999],
            ].map(([low, high]) => ({ type: 'integer', minimum: prefix + low!, maximum: prefix + high! })),
          ),
        ],
        description: 'an Indian mobile or landline: +91, 91 or 0 then ten digits (not 1800/1860), spaces, dashes, dots and brackets allowed',
        example: '+919812345678',
      },
    }),
  text,
  optionalText,
  // Read back at /api/orders/:order_id/calls: one line of printable text, or it could not be asked for.
  orderId: scalar(text(64).refine((value) => !/[\t\r\n]/.test(value), 'must not contain tabs or line breaks')).register(documentation, {
    schema: { anyOf: [documentedText(64, LINE), { type: 'integer', minimum: -Number.MAX_SAFE_INTEGER, maximum: Number.MAX_SAFE_INTEGER }], description: 'one line of at most 64 characters, or a whole number' },
  }) as z.ZodType<string>,
  // Absent: the number's stored preference, else DEFAULT_LANGUAGE.
  language: z
    .preprocess((value) => (value === '' ? undefined : value), z.enum(LANGUAGES, { error: `must be one of ${LANGUAGES.join(', ')}` }).optional())
    .register(documentation, { schema: { type: 'string', enum: [...LANGUAGES, ''], description: "empty or absent: the number's last language, else DEFAULT_LANGUAGE" } }),
  // Call an order again after its call finished (otherwise 409).
  recall: z
    .union([z.boolean(), z.enum(['true', 'false', '1', '0', ''])], { error: 'must be true or false' })
    .optional()
    .transform((value) => value === true || value === 'true' || value === '1')
    .register(documentation, { schema: { anyOf: [{ type: 'boolean' }, { type: 'string', enum: ['true', 'false', '1', '0', ''] }] } }),
};

export const vendorOrderRequest = z.object({
  vendor_phone: callRequestFields.phone,
  vendor_name: text(100),
  order_id: callRequestFields.orderId,
  // Spoken to the vendor: an empty value, null or true is no amount at all, never "0 rupees" or "1 rupee".
  order_amount: z
    .preprocess(
      (value) => (typeof value === 'string' ? (value.trim() === '' ? undefined : amountFromText(value.trim())) : value),
      z.number({ error: (issue) => (issue.input === undefined ? 'is required' : 'must be a number') }).finite('must be a number').min(0, 'must not be negative').max(10_000_000, 'is too large'),
    )
    .register(documentation, {
      schema: { anyOf: [{ type: 'number', minimum: 0, maximum: 10_000_000 }, { type: 'string', pattern: AMOUNT_PATTERN }], description: 'rupees, 0 to 10,000,000: a number, or its decimal digits as text' },
    }),
  items: optionalText(500),
  language: callRequestFields.language,
  recall: callRequestFields.recall,
});

export type VendorOrderRequest = z.infer<typeof vendorOrderRequest>;

/**
 * One of the request's fields given twice (`?order_id=1&order_id=2`) is ambiguous: refused rather than
 * guessed. Lists (items, pickup, …) may repeat, and a field we do not take is ignored however it comes.
 */
export function repeatedField(input: Record<string, unknown>, shape: Record<string, z.ZodType>): string | undefined {
  return Object.keys(shape).find((key) => !LIST_FIELDS.has(shape[key]!) && Array.isArray(input[key]));
}

/** The first problem as the field it is about and one sentence, for a 400 the backend can act on. */
export function firstProblem(error: z.ZodError, input: Record<string, unknown>): { field: string; message: string } {
  const issue = error.issues[0]!;
  const field = issue.path.join('.') || 'body';
  const missing = issue.path.length === 1 && input[String(issue.path[0])] === undefined;
  const message = missing ? 'is required' : issue.message;
  return { field, message: `${field} ${message}` };
}
