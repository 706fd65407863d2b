/**
 * Where a field lives in a YAML text, so the editor can put the server's validation error
 * on the line of the field it names. A field that is missing (a "Required value") points
 * at its closest existing parent.
 */
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node as YamlNode } from 'yaml';
import { parseFieldPath } from './field-path.js';

export interface FieldLine {
  /** 1-based line. */
  line: number;
  /** True when the field itself was found, false when this is its nearest parent. */
  exact: boolean;
}

/** A function from field path to line for one YAML text (parsed once). */
export function fieldLocator(text: string): (field: string) => FieldLine {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter });
  const lineOf = (offset: number) => lineCounter.linePos(offset).line;
  return (field) => {
    let node: unknown = doc.contents;
    let line = 1;
    const segments = parseFieldPath(field);
    for (let i = 0; i < segments.length; i++) {
      const seg = segments[i]!;
      if (isMap(node)) {
        const pair = node.items.find((p) => (isScalar(p.key) ? String(p.key.value) : String(p.key)) === String(seg));
        if (!pair) return { line, exact: false };
        const key = pair.key as YamlNode | null;
        if (key?.range) line = lineOf(key.range[0]);
        node = pair.value;
      } else if (isSeq(node) && typeof seg === 'number') {
        const item = node.items[seg] as YamlNode | undefined;
        if (!item) return { line, exact: false };
        if (item.range) line = lineOf(item.range[0]);
        node = item;
      } else {
        return { line, exact: false };
      }
    }
    return { line, exact: true };
  };
}
