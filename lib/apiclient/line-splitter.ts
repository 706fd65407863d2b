/**
 * Splits a watch response (newline-delimited JSON, arriving in arbitrary chunks) into
 * complete lines. A line cut across two chunks is held until its newline arrives.
 */
export class LineSplitter {
  #pending = '';

  /** The complete, non-empty lines this chunk finishes. */
  push(chunk: string): string[] {
    const text = this.#pending + chunk;
    const parts = text.split('\n');
    this.#pending = parts.pop() ?? '';
    return parts.filter((line) => line.trim() !== '');
  }

  /** Whatever is left when the stream ends (a final line without newline). */
  flush(): string[] {
    const rest = this.#pending.trim();
    this.#pending = '';
    return rest ? [rest] : [];
  }
}
