/**
 * View and edit an object as YAML. Apply replaces the object (PUT with its resourceVersion,
 * so a concurrent change is refused with 409 instead of being overwritten); the server's
 * validation errors (422 causes) are put on the line of the field they name.
 */
import { useMemo, useRef, useState } from 'react';
import { parseDocument, stringify } from 'yaml';
import type { KubeObject } from '../../../api-types/meta.js';
import { asApiError } from '../../../lib/apimachinery/status-error.js';
import { fieldLocator } from '../model/yaml-fields.js';
import { LoggedButton } from '../logging/LoggedButton.js';

const LINE_HEIGHT = 20;

/** The object as YAML without managedFields (noise for a human editor; the server keeps them). */
export function toEditableYaml(obj: KubeObject): string {
  const { managedFields: _ignored, ...metadata } = obj.metadata;
  return stringify({ ...obj, metadata }, { lineWidth: 0 });
}

interface LineError {
  line: number;
  field?: string;
  message: string;
}

export interface YamlEditorProps {
  object: KubeObject;
  canWrite: boolean;
  /** Applies the edited object; resolves when stored, rejects with the ApiError. */
  onApply(obj: KubeObject): Promise<void>;
}

export function YamlEditor({ object, canWrite, onApply }: YamlEditorProps) {
  const current = useMemo(() => toEditableYaml(object), [object]);
  const [draft, setDraft] = useState<string | undefined>();
  const [baseVersion, setBaseVersion] = useState<string | undefined>();
  const [errors, setErrors] = useState<LineError[]>([]);
  const [summary, setSummary] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const [scrollTop, setScrollTop] = useState(0);
  const textRef = useRef<HTMLTextAreaElement>(null);

  const editing = draft !== undefined;
  const text = draft ?? current;
  const lineCount = text.split('\n').length;
  const staleBase = editing && baseVersion !== object.metadata.resourceVersion;

  const startEditing = () => {
    setDraft(current);
    setBaseVersion(object.metadata.resourceVersion);
    setErrors([]);
    setSummary(undefined);
  };
  const cancel = () => {
    setDraft(undefined);
    setErrors([]);
    setSummary(undefined);
  };
  const goToLine = (line: number) => {
    const el = textRef.current;
    if (!el) return;
    const offset =
      text
        .split('\n')
        .slice(0, line - 1)
        .join('\n').length + (line > 1 ? 1 : 0);
    el.focus();
    el.setSelectionRange(offset, offset);
    el.scrollTop = Math.max(0, (line - 3) * LINE_HEIGHT);
  };

  const apply = async () => {
    if (draft === undefined) return;
    const doc = parseDocument(draft);
    if (doc.errors.length) {
      const first = doc.errors[0]!;
      setErrors(doc.errors.map((e) => ({ line: e.linePos?.[0]?.line ?? 1, message: e.message.split('\n')[0]! })));
      setSummary(`Not valid YAML: ${first.message.split('\n')[0]}`);
      return;
    }
    const obj = doc.toJS() as KubeObject;
    setBusy(true);
    try {
      await onApply(obj);
      setDraft(undefined);
      setErrors([]);
      setSummary(undefined);
    } catch (err) {
      const e = asApiError(err);
      const locate = fieldLocator(draft);
      const lineErrors = e.causes.map((c) => ({ line: c.field ? locate(c.field).line : 1, field: c.field, message: c.message ?? c.reason ?? 'invalid' }));
      setErrors(lineErrors);
      setSummary(e.code === 409 ? `${e.describe()} — reload to edit the current version.` : e.describe());
      // Bring the first offending field into view, where its message is.
      if (lineErrors.length) goToLine(Math.min(...lineErrors.map((l) => l.line)));
    } finally {
      setBusy(false);
    }
  };

  const byLine = new Map<number, LineError[]>();
  for (const e of errors) byLine.set(e.line, [...(byLine.get(e.line) ?? []), e]);

  return (
    <div className="yaml-editor" data-testid="yaml-editor">
      <div className="toolbar">
        {!editing && canWrite && (
          <LoggedButton logAction="yaml-edit" type="button" onClick={startEditing} data-write="true" data-testid="yaml-edit">
            Edit
          </LoggedButton>
        )}
        {editing && (
          <>
            <LoggedButton
              logAction="yaml-apply"
              type="button"
              className="primary"
              onClick={() => void apply()}
              disabled={busy}
              data-write="true"
              data-testid="yaml-apply"
            >
              {busy ? 'Applying…' : 'Apply'}
            </LoggedButton>
            <LoggedButton logAction="yaml-cancel" type="button" onClick={cancel} disabled={busy}>
              Cancel
            </LoggedButton>
          </>
        )}
        {editing && <span className="muted small">status is observed state: the server ignores changes to it here.</span>}
        {staleBase && (
          <span className="warn-note" data-testid="yaml-stale">
            Changed on the server since you started editing (resourceVersion {baseVersion} → {object.metadata.resourceVersion}).{' '}
            <LoggedButton logAction="yaml-edit" type="button" className="link" onClick={startEditing}>
              Reload
            </LoggedButton>
          </span>
        )}
      </div>
      {summary && (
        <div className="error-banner" role="alert" data-testid="yaml-error">
          {summary}
        </div>
      )}
      <div className="code-frame" style={{ ['--lh' as string]: `${LINE_HEIGHT}px` }}>
        <div className="gutter" aria-hidden="true" style={{ transform: `translateY(${-scrollTop}px)` }}>
          {Array.from({ length: lineCount }, (_, i) => (
            // biome-ignore lint/suspicious/noArrayIndexKey: the index is the line number
            <div key={i} className={byLine.has(i + 1) ? 'gutter-line has-error' : 'gutter-line'}>
              {i + 1}
            </div>
          ))}
        </div>
        <textarea
          ref={textRef}
          value={text}
          readOnly={!editing}
          spellCheck={false}
          wrap="off"
          onChange={(e) => setDraft(e.target.value)}
          onScroll={(e) => setScrollTop(e.currentTarget.scrollTop)}
          aria-label="Object YAML"
          data-testid="yaml-text"
        />
        <div className="inline-errors" aria-hidden="true">
          {[...byLine.entries()].map(([line, list]) => (
            <div key={line} className="inline-error" style={{ top: 8 + (line - 1) * LINE_HEIGHT - scrollTop }} data-testid="yaml-inline-error" data-line={line}>
              ◀ {list.map((e) => e.message).join('; ')}
            </div>
          ))}
        </div>
      </div>
      {errors.length > 0 && (
        <ul className="field-errors" data-testid="yaml-field-errors">
          {errors.map((e, i) => (
            // biome-ignore lint/suspicious/noArrayIndexKey: the list is replaced whole on each validation, and two errors may read the same
            <li key={i}>
              <LoggedButton logAction="yaml-go-to-line" type="button" className="link" onClick={() => goToLine(e.line)}>
                line {e.line}
              </LoggedButton>{' '}
              {e.field && <code>{e.field}</code>} {e.message}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
