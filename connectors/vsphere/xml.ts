/**
 * Just enough XML for vim25 SOAP: building request bodies with escaped text, and parsing responses into
 * a small element tree. Responses are machine-written (no DTDs, no processing instructions inside the
 * body, namespaces only as prefixes), so a purpose-built parser is shorter than adapting a general one.
 */

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&${ENTITY_NAMES[c]};`);
}

const ENTITY_NAMES: Record<string, string> = { '&': 'amp', '<': 'lt', '>': 'gt', '"': 'quot', "'": 'apos' };
const ENTITY_VALUES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#\d+|\w+);/g, (whole, entity: string) => {
    if (entity.startsWith('#x')) return String.fromCodePoint(parseInt(entity.slice(2), 16));
    if (entity.startsWith('#')) return String.fromCodePoint(parseInt(entity.slice(1), 10));
    return ENTITY_VALUES[entity] ?? whole;
  });
}

/** A value for `xml()`: text is escaped, nested arrays flatten, undefined/false leave the element out. */
export type XmlContent = string | number | boolean | undefined | RawXml | XmlContent[];

/** Already-built XML that must not be escaped again. */
export class RawXml {
  constructor(readonly xml: string) {}
}

/**
 * One element: `xml('name', 'text')`, `xml('obj', moref, { type: 'Folder' })`. `undefined` content
 * omits the element entirely, which is how optional vim25 properties are left unset.
 */
export function xml(name: string, content: XmlContent, attributes: Record<string, string> = {}): RawXml {
  if (content === undefined) return new RawXml('');
  const attrs = Object.entries(attributes)
    .map(([k, v]) => ` ${k}="${escapeXml(v)}"`)
    .join('');
  return new RawXml(`<${name}${attrs}>${render(content)}</${name}>`);
}

/** Joins siblings, e.g. the arguments of a method in WSDL order. */
export function fragment(...parts: XmlContent[]): RawXml {
  return new RawXml(parts.map(render).join(''));
}

function render(content: XmlContent): string {
  if (content === undefined) return '';
  if (content instanceof RawXml) return content.xml;
  if (Array.isArray(content)) return content.map(render).join('');
  return escapeXml(String(content));
}

export class XmlElement {
  readonly children: XmlElement[] = [];
  text = '';

  constructor(
    /** Local name, namespace prefix removed. */
    readonly name: string,
    readonly attributes: Record<string, string>,
  ) {}

  /** The xsi:type of the element without prefix (vim25 marks polymorphic values with it). */
  get type(): string | undefined {
    const entry = Object.entries(this.attributes).find(([k]) => k.endsWith(':type'));
    return entry ? localName(entry[1]) : undefined;
  }

  child(name: string): XmlElement | undefined {
    return this.children.find((c) => c.name === name);
  }

  all(name: string): XmlElement[] {
    return this.children.filter((c) => c.name === name);
  }

  /** Text of a child element, or undefined when absent. */
  textOf(name: string): string | undefined {
    return this.child(name)?.text;
  }

  /** Follows a path of child names, e.g. `at('info', 'error', 'localizedMessage')`. */
  at(...names: string[]): XmlElement | undefined {
    return names.reduce<XmlElement | undefined>((node, name) => node?.child(name), this);
  }
}

function localName(qualified: string): string {
  const colon = qualified.indexOf(':');
  return colon === -1 ? qualified : qualified.slice(colon + 1);
}

const TOKEN =
  /<!\[CDATA\[([\s\S]*?)\]\]>|<!--[\s\S]*?-->|<\?[\s\S]*?\?>|<(\/?)([^\s/>]+)((?:\s+[^\s=/>]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(\/?)>|([^<]+)/g;
const ATTRIBUTE = /([^\s=]+)\s*=\s*(?:"([^"]*)"|'([^']*)')/g;

/** Parses a whole document and returns its root element; throws on unbalanced tags. */
export function parseXml(document: string): XmlElement {
  const root = new XmlElement('#document', {});
  const stack: XmlElement[] = [root];
  for (const m of document.matchAll(TOKEN)) {
    const [, cdata, closing, tag, attrText, selfClosing, text] = m;
    const top = stack[stack.length - 1];
    if (cdata !== undefined) {
      top.text += cdata;
    } else if (text !== undefined) {
      top.text += decodeEntities(text);
    } else if (tag !== undefined) {
      const name = localName(tag);
      if (closing) {
        if (top.name !== name || stack.length === 1) throw new Error(`malformed XML: unexpected </${tag}>`);
        stack.pop();
        continue;
      }
      const attributes: Record<string, string> = {};
      for (const a of (attrText ?? '').matchAll(ATTRIBUTE)) {
        attributes[a[1]] = decodeEntities(a[2] ?? a[3] ?? '');
      }
      const element = new XmlElement(name, attributes);
      top.children.push(element);
      if (!selfClosing) stack.push(element);
    }
  }
  if (stack.length !== 1) throw new Error(`malformed XML: <${stack[stack.length - 1].name}> is not closed`);
  const [first] = root.children;
  if (!first) throw new Error('malformed XML: no root element');
  return first;
}
