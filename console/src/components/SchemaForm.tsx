import type { JsonSchema } from '../types';
import { Field } from './bits';

/**
 * A setting's name as a label: `mountPoint` → 'Mount point'; a two-letter unit prefix stays with its unit
 * (`maxMiBps` → 'Max MiBps').
 */
export function labelOf(name: string): string {
  const words: string[] = [];
  for (const word of name.split(/(?<=[a-z])(?=[A-Z])/)) {
    const last = words[words.length - 1];
    if (words.length > 1 && last.length === 2) words[words.length - 1] = last + word;
    else words.push(word);
  }
  const lower = (w: string) => (/^[A-Z][a-z]+$/.test(w) ? w.toLowerCase() : w);
  return words.map((w, i) => (i === 0 ? w[0].toUpperCase() + w.slice(1) : lower(w))).join(' ');
}

/**
 * Inputs generated from a JSON Schema object (the per-type connector settings the API serves): text,
 * number, checkbox or choice by the property's type; required ones marked; descriptions as hints.
 */
export function SchemaForm({
  schema,
  value,
  onChange,
  idPrefix,
}: {
  schema: JsonSchema;
  value: Record<string, unknown>;
  onChange(value: Record<string, unknown>): void;
  idPrefix: string;
}) {
  const required = new Set(schema.required ?? []);
  const set = (name: string, v: unknown) => {
    const next = { ...value };
    if (v === '' || v === undefined) delete next[name];
    else next[name] = v;
    onChange(next);
  };
  return (
    <>
      {Object.entries(schema.properties ?? {}).map(([name, property]) => {
        const label = `${labelOf(name)}${required.has(name) ? '' : ' (optional)'}`;
        const current = value[name];
        if (property.type === 'boolean') {
          return (
            <label key={name} className="check">
              <input
                type="checkbox"
                name={`${idPrefix}.${name}`}
                checked={current === true}
                onChange={(e) => set(name, e.target.checked)}
              />
              {label}
              {property.description && <span className="hint">{property.description}</span>}
            </label>
          );
        }
        if (property.enum) {
          return (
            <Field key={name} label={label} hint={property.description}>
              <select
                name={`${idPrefix}.${name}`}
                required={required.has(name)}
                value={String(current ?? '')}
                onChange={(e) => set(name, e.target.value)}
              >
                <option value="">Choose…</option>
                {property.enum.map((option) => (
                  <option key={option}>{option}</option>
                ))}
              </select>
            </Field>
          );
        }
        const numeric = property.type === 'number' || property.type === 'integer';
        return (
          <Field key={name} label={label} hint={property.description}>
            <input
              name={`${idPrefix}.${name}`}
              type={numeric ? 'number' : 'text'}
              step={property.type === 'integer' ? 1 : 'any'}
              required={required.has(name)}
              value={current === undefined ? '' : String(current)}
              onChange={(e) =>
                set(name, numeric && e.target.value !== '' ? Number(e.target.value) : e.target.value)
              }
            />
          </Field>
        );
      })}
    </>
  );
}
