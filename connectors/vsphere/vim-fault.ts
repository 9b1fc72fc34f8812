import type { XmlElement } from './xml';

/** A managed object reference: `{ type: 'VirtualMachine', value: 'vm-42' }`. */
export interface MoRef {
  type: string;
  value: string;
}

export function moRefOf(element: XmlElement): MoRef {
  return { type: element.attributes.type ?? '', value: element.text.trim() };
}

export function describeMoRef(ref: MoRef): string {
  return `${ref.type} ${ref.value}`;
}

/**
 * A vim25 fault, from a SOAP Fault or a failed Task, with what an admin needs in one line: the call,
 * the object it was about, the fault type and vCenter's own message.
 */
export class VimFault extends Error {
  constructor(
    /** Fault type without namespace, e.g. 'InvalidLogin', 'ManagedObjectNotFound', 'FileNotFound'. */
    readonly fault: string,
    /** vCenter's message (localizedMessage or faultstring). */
    readonly faultMessage: string,
    /** What was being done, e.g. "PowerOnVM_Task on VirtualMachine vm-42". */
    readonly operation: string,
    /** The object the fault names, when it names one (ManagedObjectNotFound.obj, FileFault.file…). */
    readonly subject?: string,
  ) {
    const about = subject ? ` (${subject})` : '';
    super(`${operation} failed: ${fault}${about}: ${faultMessage || 'no message from vCenter'}`);
    this.name = 'VimFault';
  }
}

/**
 * Builds a VimFault from a fault body: the SOAP `detail` child of a Fault, or a Task's
 * `LocalizedMethodFault.fault`. The fault type is its xsi:type, or the element name minus "Fault".
 */
export function vimFaultFrom(detail: XmlElement | undefined, message: string, operation: string): VimFault {
  if (!detail) return new VimFault('SoapFault', message, operation);
  const fault = detail.type ?? detail.name.replace(/Fault$/, '');
  return new VimFault(fault, message, operation, faultSubject(detail));
}

function faultSubject(detail: XmlElement): string | undefined {
  const obj = detail.child('obj') ?? detail.child('object');
  if (obj) return describeMoRef(moRefOf(obj));
  const file = detail.textOf('file') ?? detail.textOf('datastore') ?? detail.textOf('name');
  return file?.trim() || undefined;
}
