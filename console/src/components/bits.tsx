import { cloneElement, useId, type ReactElement, type ReactNode } from 'react';
import type { TaskProgress } from '../types';

export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

export function formatTime(iso: string | null | undefined): string {
  return iso ? new Date(iso).toLocaleString() : '—';
}

/** A state as a coloured badge; the word is always there, so colour is never the only signal. */
export function Badge({ value }: { value: string }) {
  return <span className={`badge badge-${value.toLowerCase().replace(/[^a-z]/g, '')}`}>{value}</span>;
}

export function PageHeader({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="page-header">
      <h1>{title}</h1>
      <div className="actions">{children}</div>
    </div>
  );
}

/** The percent a task's last progress step reports (done/total where no percent is given). */
export function progressPercent(progress: TaskProgress[] | undefined, state: string): number {
  if (state === 'completed') return 100;
  const last = progress?.[progress.length - 1];
  if (!last) return 0;
  if (last.percent !== undefined) return Math.round(last.percent);
  if (last.done !== undefined && last.total) return Math.round((100 * last.done) / last.total);
  return 0;
}

export function ProgressBar({ percent, label }: { percent: number; label: string }) {
  return (
    <div
      className="progress"
      role="progressbar"
      aria-label={label}
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={percent}
    >
      <div className="progress-fill" style={{ width: `${percent}%` }} />
      <span>{percent}%</span>
    </div>
  );
}

/**
 * A labelled control with an optional hint; the hint is the control's description (aria-describedby),
 * not part of its name, so a screen reader says "Firmware, combo box" and then the hint.
 */
export function Field({ label, hint, children }: { label: string; hint?: string; children: ReactElement }) {
  const id = useId();
  const control = cloneElement(children as ReactElement<Record<string, unknown>>, {
    id,
    'aria-describedby': hint ? `${id}-hint` : undefined,
  });
  return (
    <div className="field">
      <label className="field-label" htmlFor={id}>
        {label}
      </label>
      {control}
      {hint && (
        <span className="hint" id={`${id}-hint`}>
          {hint}
        </span>
      )}
    </div>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <p className="empty">{children}</p>;
}

/** The search box every list page filters its rows by name with; the page resets its paging in `onChange`. */
export function NameFilter({ value, onChange }: { value: string; onChange: (value: string) => void }) {
  return (
    <label>
      Name{' '}
      <input
        type="search"
        value={value}
        placeholder="Filter by name"
        onChange={(e) => onChange(e.target.value)}
      />
    </label>
  );
}
