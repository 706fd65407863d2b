/** The acceleration a node (or a VM on it) runs with: nothing to flag for kvm, a TCG badge for software emulation. */
export const TCG_EXPLANATION = 'software emulation: slower guests';

export function AccelBadge({ acceleration, showKvm = false, source }: { acceleration: string | undefined; showKvm?: boolean; source?: string }) {
  if (acceleration === 'tcg') {
    const why = source ? ` (${source})` : '';
    return (
      // biome-ignore lint/a11y/noNoninteractiveTabindex lint/a11y/useAriaPropsSupportedByRole: focusable so keyboard and screen-reader users reach the explanation a mouse gets from the title
      <span className="flag flag-tcg" title={`${TCG_EXPLANATION}${why}`} aria-label={`TCG: ${TCG_EXPLANATION}`} tabIndex={0} data-testid="accel-tcg">
        TCG
      </span>
    );
  }
  if (acceleration === 'kvm' && showKvm)
    return (
      <span className="muted" title="hardware virtualization (/dev/kvm)">
        kvm
      </span>
    );
  return null;
}
