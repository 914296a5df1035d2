// Reads an ExoML document the way Exotel's player would: a <Response> holding verbs in order. Strict:
// a document that is not well-formed XML, or has no <Response> root, is refused, as Exotel would hang up.
import { XMLParser, XMLValidator } from 'fast-xml-parser';

export interface ExomlNode {
  name: string;
  attrs: Record<string, string>;
  text: string;
  children: ExomlNode[];
}

const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '',
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
});

type Ordered = Array<Record<string, unknown>>;

/** The verbs of a document, or an error saying why Exotel could not play it. */
export function readExoml(xml: string): { verbs: ExomlNode[] } | { error: string } {
  const valid = XMLValidator.validate(xml);
  if (valid !== true) return { error: `not well-formed XML: ${valid.err.msg} (line ${valid.err.line})` };
  const nodes = toNodes(parser.parse(xml) as Ordered).filter((node) => !node.name.startsWith('?'));
  if (nodes.length !== 1 || nodes[0]!.name !== 'Response') return { error: 'the root element is not <Response>' };
  return { verbs: nodes[0]!.children };
}

function toNodes(ordered: Ordered): ExomlNode[] {
  const nodes: ExomlNode[] = [];
  for (const entry of ordered) {
    const name = Object.keys(entry).find((key) => key !== ':@');
    if (!name || name === '#text') continue;
    const content = (entry[name] ?? []) as Ordered;
    const attrs = (entry[':@'] ?? {}) as Record<string, string>;
    const text = content.map((child) => (typeof child['#text'] === 'string' ? child['#text'] : '')).join('');
    nodes.push({ name, attrs, text, children: toNodes(content) });
  }
  return nodes;
}
