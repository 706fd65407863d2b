/** Image status pieces shared by the list and the detail page. */
import type { Image } from '../../../api-types/generated/types.js';
import { imageSummary, type Checksum } from '../model/image-view.js';
import { ProgressBar } from './bits.js';

/** The list's progress cell: the slowest import's bar, the first failure, or Ready nodes of all. */
export function ImageProgressCell({ image }: { image: Image }) {
  const s = imageSummary(image);
  if (s.kind === 'importing')
    return (
      <ProgressBar
        percent={s.progress.percent}
        text={`${s.progress.text}${s.importing > 1 ? ` (slowest of ${s.importing}: ${s.node})` : ''}`}
        testId="image-progress"
      />
    );
  if (s.kind === 'failed')
    return (
      <div className="cell-fail" title={s.text} data-testid="image-failure">
        {s.node}: {s.text}
      </div>
    );
  if (s.kind === 'ready')
    return <span className={s.ready === s.total ? undefined : 'muted'}>{`Ready on ${s.ready}/${s.total} node${s.total === 1 ? '' : 's'}`}</span>;
  return <span className="muted">not wanted on any node yet</span>;
}

/** ✓ verified, ✗ mismatch, or what is known, with the full hash and the explanation on hover. */
export function ChecksumMark({ checksum: c }: { checksum: Checksum }) {
  const title = `${c.sha256 ? `sha256 ${c.sha256}: ` : ''}${c.text}`;
  if (c.state === 'verified')
    return (
      <span className="check-ok" title={title} data-checksum="verified">
        ✓ verified
      </span>
    );
  if (c.state === 'mismatch')
    return (
      <span className="check-bad" title={title} data-checksum="mismatch">
        ✗ mismatch
      </span>
    );
  return (
    <span className="check-none" title={title} data-checksum={c.state}>
      {c.state === 'pending' ? 'not verified yet' : c.state === 'unchecked' ? 'not checked' : '—'}
    </span>
  );
}
