import { useState } from 'react';
import { Link, useParams, useSearchParams } from 'react-router';
import type { Image } from '../../../api-types/generated/types.js';
import type { ApiError } from '../../../lib/apimachinery/status-error.js';
import { useDelete } from '../actions/use-delete.js';
import { Images } from '../api/resources.js';
import { useSession } from '../auth/session.js';
import { useLiveList } from '../live/use-live-list.js';
import { formatAge } from '../model/age.js';
import { checksumOf, failureText, imageNodeRows, imageSourceText, progressOf } from '../model/image-view.js';
import { bytes, ErrorBanner, LoadState, Phase, ProgressBar, Tabs, useNow } from '../ui/bits.js';
import { DeletionNote } from '../ui/DeletionNote.js';
import { ChecksumMark } from '../ui/ImageStatus.js';
import { ConditionsTable, KeyValues } from '../ui/KeyValues.js';
import { YamlEditor } from '../ui/YamlEditor.js';
import { useApplyYaml } from '../actions/use-apply-yaml.js';
import { LoggedButton } from '../logging/LoggedButton.js';

const TABS = [
  { key: 'overview', label: 'Overview' },
  { key: 'yaml', label: 'YAML' },
] as const;
type Tab = (typeof TABS)[number]['key'];

export function ImageDetail() {
  const { name } = useParams();
  const [params, setParams] = useSearchParams();
  const tab = (params.get('tab') as Tab | null) ?? 'overview';
  const { items, synced, error } = useLiveList(Images);
  const { canWrite } = useSession();
  const apply = useApplyYaml(Images, undefined, name ?? '', `image ${name}`);
  const del = useDelete();
  const [deleteError, setDeleteError] = useState<ApiError | undefined>();
  const image = items.find((i) => i.metadata.name === name);
  if (!synced || error?.isForbidden) return <LoadState synced={synced} error={error} />;
  if (!image)
    return (
      <div className="card" data-testid="image-missing">
        Image {name} does not exist (or was deleted). <Link to="/images">All images</Link>
      </div>
    );

  const usedBy = image.status?.usedBy ?? [];
  const onDelete = async () => {
    setDeleteError(undefined);
    const outcome = await del(
      Images,
      image,
      <>
        <p>Delete image {name}? Every node removes its cached copy once no disk needs it.</p>
        {usedBy.length > 0 && (
          <p className="warn-note">
            {usedBy.length} VM(s) have disks from it: {usedBy.join(', ')}. Their disks keep the image until they are deleted, so the image may stay (being
            deleted) until then.
          </p>
        )}
      </>,
    );
    if (outcome.state === 'refused') setDeleteError(outcome.error);
  };
  const failed = imageNodeRows(image).filter((r) => r.status?.phase === 'Failed');
  return (
    <section data-testid="image-detail">
      <div className="page-head">
        <h1>
          <Link to="/images" className="muted">
            Images
          </Link>{' '}
          / {name}
        </h1>
        <Phase value={image.metadata.deletionTimestamp ? 'Terminating' : image.status?.phase} />
        {(checksumOf(image).state === 'verified' || checksumOf(image).state === 'mismatch') && <ChecksumMark checksum={checksumOf(image)} />}
        <span className="spacer" />
        {canWrite && (
          <LoggedButton
            logAction="delete"
            logTarget={image.metadata.name}
            type="button"
            className="danger small"
            disabled={Boolean(image.metadata.deletionTimestamp)}
            title={image.metadata.deletionTimestamp ? 'Already being deleted.' : undefined}
            onClick={() => void onDelete()}
            data-write="true"
            data-testid="delete-image"
          >
            Delete
          </LoggedButton>
        )}
      </div>
      {deleteError && (
        <div data-testid="delete-error">
          <ErrorBanner error={deleteError} />
        </div>
      )}
      <DeletionNote obj={image} holding={usedBy.length > 0 ? <UsedBy usedBy={usedBy} prefix="Still used by" /> : undefined} />
      {failed.length > 0 && (
        <div className="error-banner" data-testid="image-failures">
          {failed.map((r) => (
            <div key={r.node}>
              <strong>{r.node}</strong>: {failureText(r.status)}
            </div>
          ))}
        </div>
      )}
      <Tabs tabs={TABS} active={tab} onSelect={(t) => setParams(t === 'overview' ? {} : { tab: t }, { replace: true })} />
      {tab === 'overview' && <Overview image={image} />}
      {tab === 'yaml' && <YamlEditor object={image} canWrite={canWrite} onApply={apply} />}
    </section>
  );
}

function UsedBy({ usedBy, prefix }: { usedBy: readonly string[]; prefix?: string }) {
  if (usedBy.length === 0) return <span className="muted">no VM</span>;
  return (
    <span data-testid="image-used-by">
      {prefix && `${prefix} `}
      {usedBy.map((ref, i) => (
        <span key={ref}>
          {i > 0 && ', '}
          <Link to={`/vms/${ref}`}>{ref}</Link>
        </span>
      ))}
    </span>
  );
}

function Overview({ image }: { image: Image }) {
  const now = useNow();
  const src = image.spec.source;
  const checksum = checksumOf(image);
  return (
    <div className="grid-2">
      <div className="card">
        <h2>Source</h2>
        <KeyValues
          rows={[
            [
              src?.url ? 'URL' : 'File',
              src?.pool ? (
                <span key="file">
                  <Link to={`/pools/${src.pool}?tab=files`}>{src.pool}</Link>:<code>{src.path}</code>
                </span>
              ) : (
                <code key="url" data-testid="image-source">
                  {imageSourceText(image)}
                </code>
              ),
            ],
            [
              'Expected sha256',
              src?.sha256 ? (
                <code key="sha" className="sha">
                  {src.sha256}
                </code>
              ) : (
                'none (the import is not verified)'
              ),
            ],
            ['Format', image.spec.format ?? 'detected on import'],
            [
              'Cached in pool',
              image.spec.storagePool ? (
                <Link key="pool" to={`/pools/${image.spec.storagePool}`}>
                  {image.spec.storagePool}
                </Link>
              ) : (
                'the pool of the first disk that needs it on each node'
              ),
            ],
            ['Imported ahead to', image.spec.nodeNames?.length ? image.spec.nodeNames.join(', ') : 'no node (imported where a VM needs it)'],
          ]}
        />
      </div>
      <div className="card">
        <h2>Status</h2>
        <KeyValues
          rows={[
            ['Phase', <Phase key="phase" value={image.status?.phase} />],
            ['Virtual size', bytes(image.status?.virtualSizeBytes)],
            [
              'Checksum',
              <span key="sum">
                <ChecksumMark checksum={checksum} />
                {checksum.state === 'verified' && <span className="muted small"> against spec.source.sha256</span>}
                {checksum.sha256 && (
                  <div>
                    <code className="sha" data-testid="image-sha256">
                      {checksum.sha256}
                    </code>
                  </div>
                )}
              </span>,
            ],
            ['Used by', <UsedBy key="used" usedBy={image.status?.usedBy ?? []} />],
            ['Created', `${image.metadata.creationTimestamp ?? ''} (${formatAge(image.metadata.creationTimestamp, now)} ago)`],
          ]}
        />
      </div>
      <div className="card span-2">
        <h2>On each node</h2>
        <NodesTable image={image} now={now} />
      </div>
      <div className="card span-2">
        <h2>Conditions</h2>
        <ConditionsTable conditions={image.status?.conditions} />
      </div>
    </div>
  );
}

function NodesTable({ image, now }: { image: Image; now: number }) {
  const rows = imageNodeRows(image);
  if (rows.length === 0)
    return <p className="muted">Not on any node yet: it is imported where a VM that needs it is bound, or to the nodes in spec.nodeNames.</p>;
  return (
    <table className="table" data-testid="image-nodes">
      <thead>
        <tr>
          <th>Node</th>
          <th>Phase</th>
          <th style={{ width: '28%' }}>Progress</th>
          <th>Cached copy</th>
          <th>File / virtual size</th>
          <th>Checksum</th>
          <th>Last report</th>
          <th>Message</th>
        </tr>
      </thead>
      <tbody>
        {rows.map(({ node, wanted, status: s }) => {
          const progress = progressOf(s);
          const failure = failureText(s);
          return (
            <tr key={node} data-node={node}>
              <td>
                <Link to={`/nodes/${node}`}>{node}</Link>
                {!wanted && (
                  <span className="flag flag-unknown" title="Not in spec.nodeNames: imported because a VM bound there needs it.">
                    on demand
                  </span>
                )}
              </td>
              <td>{s ? <Phase value={s.phase} title={s.message} /> : <span className="muted">not reported</span>}</td>
              <td>
                {progress ? <ProgressBar percent={progress.percent} text={progress.text} testId="node-progress" /> : s?.phase === 'Ready' ? 'complete' : '—'}
              </td>
              <td>
                {s?.pool ? (
                  <>
                    <Link to={`/pools/${s.pool}`}>{s.pool}</Link> <code className="muted">{s.path}</code>
                  </>
                ) : (
                  '—'
                )}
              </td>
              <td>
                {bytes(s?.fileBytes)} / {bytes(s?.virtualSizeBytes)}
              </td>
              <td>{s ? <ChecksumMark checksum={checksumOf(image, s)} /> : '—'}</td>
              <td title={s?.lastUpdated}>{s?.lastUpdated ? `${formatAge(s.lastUpdated, now)} ago` : '—'}</td>
              <td className={failure ? 'text-bad' : 'muted'} data-testid={failure ? 'node-failure' : undefined}>
                {failure ?? s?.message ?? ''}
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}
