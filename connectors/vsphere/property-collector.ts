import type { VimClient } from './vim-client';
import { moRefOf, type MoRef } from './vim-fault';
import { fragment, xml, RawXml, type XmlElement } from './xml';

/**
 * Reading inventory through the PropertyCollector: one object's properties, or every object of a type
 * under a container (through a ContainerView). Results come in pages (RetrievePropertiesEx +
 * ContinueRetrievePropertiesEx) so a large vCenter never returns one huge answer.
 */
export interface ObjectContent {
  ref: MoRef;
  /** Property path → its `<val>` element; unset properties are absent. */
  props: Map<string, XmlElement>;
}

const PAGE_SIZE = 100;

export async function readProperties(
  client: VimClient,
  ref: MoRef,
  paths: string[],
): Promise<Map<string, XmlElement>> {
  const objectSet = xml('objectSet', fragment(moRefXml('obj', ref), xml('skip', false)));
  const [content] = await retrieve(client, ref.type, paths, objectSet);
  return content?.props ?? new Map();
}

/** Every object of `type` below `container` (recursively), with the requested properties. */
export async function listObjects(
  client: VimClient,
  type: string,
  paths: string[],
  container: MoRef = client.serviceContent.rootFolder,
): Promise<ObjectContent[]> {
  const response = await client.invoke(
    'CreateContainerView',
    client.serviceContent.viewManager,
    fragment(moRefXml('container', container), xml('type', type), xml('recursive', true)),
  );
  const view = moRefOf(response.child('returnval')!);
  try {
    const traverseView = xml(
      'selectSet',
      fragment(xml('name', 'view'), xml('type', 'ContainerView'), xml('path', 'view'), xml('skip', false)),
      { 'xsi:type': 'TraversalSpec' },
    );
    const objectSet = xml('objectSet', fragment(moRefXml('obj', view), xml('skip', true), traverseView));
    return await retrieve(client, type, paths, objectSet);
  } finally {
    await client.invoke('DestroyView', view).catch(() => undefined);
  }
}

async function retrieve(
  client: VimClient,
  type: string,
  paths: string[],
  objectSet: RawXml,
): Promise<ObjectContent[]> {
  const collector = client.serviceContent.propertyCollector;
  const propSet = xml(
    'propSet',
    fragment(
      xml('type', type),
      paths.map((p) => xml('pathSet', p)),
    ),
  );
  let response = await client.invoke(
    'RetrievePropertiesEx',
    collector,
    fragment(xml('specSet', fragment(propSet, objectSet)), xml('options', xml('maxObjects', PAGE_SIZE))),
  );
  const objects: ObjectContent[] = [];
  for (;;) {
    const result = response.child('returnval');
    if (!result) return objects; // nothing matched
    for (const content of result.all('objects')) {
      const props = new Map<string, XmlElement>();
      for (const prop of content.all('propSet')) props.set(prop.textOf('name')!, prop.child('val')!);
      objects.push({ ref: moRefOf(content.child('obj')!), props });
    }
    const token = result.textOf('token');
    if (!token) return objects;
    response = await client.invoke('ContinueRetrievePropertiesEx', collector, xml('token', token));
  }
}

export function moRefXml(name: string, ref: MoRef): RawXml {
  return xml(name, ref.value, { type: ref.type });
}

/** The managed object references in an ArrayOfManagedObjectReference value. */
export function moRefsIn(value: XmlElement | undefined): MoRef[] {
  return (value?.children ?? []).map(moRefOf);
}
