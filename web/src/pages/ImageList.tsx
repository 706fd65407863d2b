import { useMemo } from 'react';
import { Link, useNavigate } from 'react-router';
import type { Image } from '../../../api-types/generated/types.js';
import { Images } from '../api/resources.js';
import { useSession } from '../auth/session.js';
import { useLiveList } from '../live/use-live-list.js';
import { formatAge } from '../model/age.js';
import { checksumOf, imageSourceText } from '../model/image-view.js';
import { bytes, LoadState, Phase, useNow } from '../ui/bits.js';
import { ChecksumMark, ImageProgressCell } from '../ui/ImageStatus.js';
import { VirtualTable, type Column } from '../ui/VirtualTable.js';
import { LoggedButton } from '../logging/LoggedButton.js';

export function ImageList() {
  const { items, synced, error } = useLiveList(Images);
  const { canWrite } = useSession();
  const navigate = useNavigate();
  const now = useNow(10_000);
  const rows = useMemo(() => [...items].sort((a, b) => a.metadata.name!.localeCompare(b.metadata.name!)), [items]);
  const columns: Column<Image>[] = [
    { key: 'name', header: 'Name', width: 'minmax(140px,1.2fr)', render: (i) => <Link to={`/images/${i.metadata.name}`}>{i.metadata.name}</Link> },
    { key: 'phase', header: 'Phase', width: '100px', render: (i) => <Phase value={i.metadata.deletionTimestamp ? 'Terminating' : i.status?.phase} /> },
    { key: 'progress', header: 'Progress', width: 'minmax(220px,2fr)', render: (i) => <ImageProgressCell image={i} /> },
    { key: 'size', header: 'Size', width: '80px', render: (i) => bytes(i.status?.virtualSizeBytes) },
    { key: 'checksum', header: 'Checksum', width: '120px', render: (i) => <ChecksumMark checksum={checksumOf(i)} /> },
    { key: 'source', header: 'Source', width: 'minmax(180px,2fr)', render: (i) => <code title={imageSourceText(i)}>{imageSourceText(i)}</code> },
    { key: 'usedBy', header: 'Used by', width: '70px', render: (i) => `${i.status?.usedBy?.length ?? 0} VM${i.status?.usedBy?.length === 1 ? '' : 's'}` },
    { key: 'age', header: 'Age', width: '60px', render: (i) => formatAge(i.metadata.creationTimestamp, now) },
  ];
  return (
    <section>
      <div className="page-head">
        <h1>Images</h1>
        <span className="muted" data-testid="image-count">
          {items.length}
        </span>
        <span className="spacer" />
        {canWrite && (
          <LoggedButton
            logAction="new-image"
            type="button"
            className="primary"
            onClick={() => void navigate('/images/new')}
            data-write="true"
            data-testid="new-image"
          >
            New image
          </LoggedButton>
        )}
      </div>
      <LoadState synced={synced} error={error} />
      {synced && (
        <VirtualTable
          testId="image-table"
          rows={rows}
          columns={columns}
          rowKey={(i) => i.metadata.name!}
          rowHeight={52}
          rowClass={(i) => (i.status?.phase === 'Failed' ? 'row-warning' : undefined)}
          empty="No images. Create one from a URL (a cloud image, e.g. a Debian genericcloud qcow2) or a file in a storage pool."
        />
      )}
    </section>
  );
}
