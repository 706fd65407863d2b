import type { VirtualMachine } from '../../../api-types/generated/types.js';
import { vmFlags } from '../model/vm-flags.js';

/** The unmanaged / lost / unknown markers, each explaining itself on hover. */
export function VmBadges({ vm }: { vm: VirtualMachine }) {
  return (
    <>
      {vmFlags(vm).map((f) => (
        // biome-ignore lint/a11y/noNoninteractiveTabindex lint/a11y/useAriaPropsSupportedByRole: focusable so keyboard and screen-reader users reach the explanation a mouse gets from the title
        <span key={f.kind} className={`flag flag-${f.kind}`} title={f.explanation} data-flag={f.kind} tabIndex={0} aria-label={`${f.label}: ${f.explanation}`}>
          {f.label}
        </span>
      ))}
    </>
  );
}
