import { CrudPage } from '../components/CrudPage';
import { formatTime } from '../components/bits';
import { Link } from '../router';
import type { PublishedImage } from '../types';

export function conflictCount(image: PublishedImage): number {
  return (image.conflictReport?.files?.length ?? 0) + (image.conflictReport?.registry?.length ?? 0);
}

/** Published images, newest first, each with where it went and how many conflicts it has. */
export function ImagesPage() {
  return (
    <CrudPage<PublishedImage>
      config={{
        title: 'Published images',
        path: '/api/images',
        noun: 'image',
        nameFilter: true,
        empty: 'No images published yet.',
        columns: [
          { label: 'Image', render: (image) => <Link href={`/images/${image.id}`}>{image.name}</Link> },
          { label: 'Location', render: (image) => <code className="path">{image.outputLocation}</code> },
          { label: 'Conflicts', render: conflictCount, numeric: true },
          { label: 'Published', render: (image) => formatTime(image.publishedAt) },
        ],
      }}
    />
  );
}
