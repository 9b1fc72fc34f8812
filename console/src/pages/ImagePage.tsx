import { api } from '../api';
import { ProblemView } from '../components/Problem';
import { Empty, PageHeader, formatTime } from '../components/bits';
import { useLoad } from '../hooks';
import { Link } from '../router';
import type { Conflict, PublishedImage } from '../types';

interface Row {
  kind: 'File' | 'Registry value';
  what: string;
  layers: string[];
  winner: string;
  merged: boolean;
}

function rows(report: PublishedImage['conflictReport']): Row[] {
  const files = (report?.files ?? []).map((c: Conflict): Row => ({
    kind: 'File',
    what: c.path ?? '',
    layers: [...c.losers, c.winner],
    winner: c.winner,
    merged: false,
  }));
  const values = (report?.registry ?? []).map((c: Conflict): Row => ({
    kind: 'Registry value',
    what: `${c.key}\\${c.valueName || '(Default)'}`,
    layers: [...c.losers, c.winner],
    winner: c.winner,
    merged: c.merged ?? false,
  }));
  return [...files, ...values];
}

/** One published image: where it is, its hash, and its conflict report as a table. */
export function ImagePage({ id }: { id: string }) {
  const image = useLoad(() => api.get<PublishedImage>(`/api/images/${id}`), id);
  if (image.error) return <ProblemView error={image.error} />;
  if (!image.data) return <p className="loading">Loading…</p>;
  const conflicts = rows(image.data.conflictReport);
  return (
    <section>
      <nav className="crumbs" aria-label="Breadcrumb">
        <Link href="/images">Published images</Link> ›
      </nav>
      <PageHeader title={image.data.name} />
      <dl className="facts">
        <dt>Location</dt>
        <dd>
          <code className="path">{image.data.outputLocation}</code>
        </dd>
        <dt>SHA-256</dt>
        <dd>
          <code className="hash">{image.data.sha256 ?? '—'}</code>
        </dd>
        <dt>Published</dt>
        <dd>{formatTime(image.data.publishedAt)}</dd>
        {image.data.templateId && (
          <>
            <dt>Template</dt>
            <dd>
              <Link href={`/templates/${image.data.templateId}`}>Open the template</Link>
            </dd>
          </>
        )}
      </dl>
      <h2>Conflict report</h2>
      {conflicts.length === 0 ? (
        <Empty>No file or registry value is provided by more than one layer.</Empty>
      ) : (
        <table className="conflicts">
          <caption className="muted small">
            Files and registry values more than one layer provides; layers lowest priority first.
          </caption>
          <thead>
            <tr>
              <th scope="col">Kind</th>
              <th scope="col">File or value</th>
              <th scope="col">Layers that provide it</th>
              <th scope="col">Winner</th>
            </tr>
          </thead>
          <tbody>
            {conflicts.map((c) => (
              <tr key={c.kind + c.what}>
                <td>{c.kind}</td>
                <td>
                  <code className="path">{c.what}</code>
                </td>
                <td>{c.layers.join(' → ')}</td>
                <td>
                  <strong>{c.merged ? 'merged (all)' : c.winner}</strong>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
