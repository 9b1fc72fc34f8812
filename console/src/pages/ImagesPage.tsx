import { useState } from 'react';
import { api, query } from '../api';
import { Pager } from '../components/Pager';
import { ProblemView } from '../components/Problem';
import { Empty, NameFilter, PageHeader, formatTime } from '../components/bits';
import { useDebounced, useLoad } from '../hooks';
import { Link } from '../router';
import type { Page, PublishedImage } from '../types';

const PAGE_SIZE = 50;

export function conflictCount(image: PublishedImage): number {
  return (image.conflictReport?.files?.length ?? 0) + (image.conflictReport?.registry?.length ?? 0);
}

/** Published images, newest first, each with where it went and how many conflicts it has. */
export function ImagesPage() {
  const [name, setName] = useState('');
  const [page, setPage] = useState(1);
  const filter = useDebounced(name);
  const list = useLoad(
    () => api.get<Page<PublishedImage>>(`/api/images${query({ name: filter, page, pageSize: PAGE_SIZE })}`),
    `${filter}|${page}`,
  );
  return (
    <section>
      <PageHeader title="Published images" />
      <div className="filters" role="search">
        <NameFilter
          value={name}
          onChange={(value) => {
            setName(value);
            setPage(1);
          }}
        />
      </div>
      <ProblemView error={list.error} />
      {list.data?.items.length === 0 && <Empty>No images published yet.</Empty>}
      {list.data && list.data.items.length > 0 && (
        <table>
          <thead>
            <tr>
              <th scope="col">Image</th>
              <th scope="col">Location</th>
              <th scope="col" className="num">
                Conflicts
              </th>
              <th scope="col">Published</th>
            </tr>
          </thead>
          <tbody>
            {list.data.items.map((image) => (
              <tr key={image.id}>
                <td>
                  <Link href={`/images/${image.id}`}>{image.name}</Link>
                </td>
                <td>
                  <code className="path">{image.outputLocation}</code>
                </td>
                <td className="num">{conflictCount(image)}</td>
                <td>{formatTime(image.publishedAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {list.data && <Pager page={page} pageSize={PAGE_SIZE} total={list.data.total} onPage={setPage} />}
    </section>
  );
}
