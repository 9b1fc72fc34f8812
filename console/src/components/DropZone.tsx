import { useState, type DragEvent } from 'react';

/**
 * A file input that also takes a file dropped on it. The input stays a real, labelled <input type=file>
 * so the keyboard and screen readers use it as any other.
 */
export function DropZone({
  label,
  accept,
  file,
  required,
  onFile,
}: {
  label: string;
  accept: string;
  file: File | undefined;
  required?: boolean;
  onFile(file: File | undefined): void;
}) {
  const [over, setOver] = useState(false);
  const drop = (event: DragEvent) => {
    event.preventDefault();
    setOver(false);
    const dropped = event.dataTransfer.files[0];
    if (dropped) onFile(dropped);
  };
  return (
    <div
      className={`dropzone${over ? ' over' : ''}`}
      onDragOver={(e) => {
        e.preventDefault();
        setOver(true);
      }}
      onDragLeave={() => setOver(false)}
      onDrop={drop}
    >
      <label>
        <span className="field-label">{label}</span>
        <input
          type="file"
          accept={accept}
          required={required && !file}
          onChange={(e) => onFile(e.target.files?.[0])}
        />
      </label>
      <span className="muted small">
        {file ? `${file.name} (${Math.ceil(file.size / 1024)} KiB)` : 'or drop the file here'}
      </span>
    </div>
  );
}
