import { useState } from 'react';
import { api, query } from '../api';
import { Pager } from '../components/Pager';
import { ProblemView } from '../components/Problem';
import { Badge, PageHeader, formatTime } from '../components/bits';
import { useDebounced, useLoad } from '../hooks';
import type { Page } from '../types';

interface AuditEntry {
  id: string;
  at: string;
  actor: string;
  roles: string[];
  action: string;
  objectId: string | null;
  outcome: 'success' | 'failure' | 'denied';
  status: number;
  detail: string | null;
}

const PAGE_SIZE = 100;

/** Every change anyone made or tried, newest first. */
export function AuditPage() {
  const [actor, setActor] = useState('');
  const [outcome, setOutcome] = useState('');
  const [page, setPage] = useState(1);
  const who = useDebounced(actor);
  const list = useLoad(
    () => api.get<Page<AuditEntry>>(`/api/audit${query({ actor: who, outcome, page, pageSize: PAGE_SIZE })}`),
    `${who}|${outcome}|${page}`,
  );
  return (
    <section>
      <PageHeader title="Audit log" />
      <div className="filters" role="search">
        <label>
          Actor <input type="search" value={actor} onChange={(e) => (setActor(e.target.value), setPage(1))} />
        </label>
        <label>
          Outcome{' '}
          <select value={outcome} onChange={(e) => (setOutcome(e.target.value), setPage(1))}>
            <option value="">All</option>
            <option value="success">success</option>
            <option value="failure">failure</option>
            <option value="denied">denied</option>
          </select>
        </label>
      </div>
      <ProblemView error={list.error} />
      {list.data && (
        <table>
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">Who</th>
              <th scope="col">Action</th>
              <th scope="col">Object</th>
              <th scope="col">Outcome</th>
              <th scope="col">Detail</th>
            </tr>
          </thead>
          <tbody>
            {list.data.items.map((e) => (
              <tr key={e.id}>
                <td>{formatTime(e.at)}</td>
                <td>{e.actor}</td>
                <td>
                  <code>{e.action}</code>
                </td>
                <td>{e.objectId ? <code className="hash">{e.objectId}</code> : '—'}</td>
                <td>
                  <Badge value={e.outcome} /> {e.status}
                </td>
                <td>{e.detail ?? ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {list.data && <Pager page={page} pageSize={PAGE_SIZE} total={list.data.total} onPage={setPage} />}
    </section>
  );
}
