// Form bodies and query strings, decoded as browsers and the WHATWG URL standard do: bytes that are not
// UTF-8 (`%E0%A4` cut short, Latin-1's `%E9`) become U+FFFD, which the API's text fields refuse as not
// UTF-8, rather than the literal `%E0%A4` the default parser keeps and a vendor would hear spelt out.
export type UrlencodedFields = Record<string, string | string[]>;

/** The fields of `a=1&b=2&b=3`: a repeated key is a list, as Fastify's own parser gives it. */
export function parseUrlencoded(text: string): UrlencodedFields {
  // No prototype: a key named __proto__ is a field like any other.
  const fields = Object.create(null) as UrlencodedFields;
  for (const [key, value] of new URLSearchParams(text)) {
    const before = fields[key];
    if (before === undefined) fields[key] = value;
    else if (Array.isArray(before)) before.push(value);
    else fields[key] = [before, value];
  }
  return fields;
}

/** The query string of a request URL, without its `?` ('' when there is none). */
export function queryOf(url: string): string {
  const at = url.indexOf('?');
  return at === -1 ? '' : url.slice(at + 1);
}
