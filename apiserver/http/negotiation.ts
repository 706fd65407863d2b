/**
 * Content negotiation: what the client sent (JSON, YAML, the three patch types) and
 * what it wants back (JSON, YAML, a meta.k8s.io Table, PartialObjectMetadata).
 */
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { jsonErrorOffset } from './json-error-offset.js';
import { errors } from '../../lib/apimachinery/status-error.js';

export type ResponseForm = 'object' | 'table' | 'partial-metadata';

export interface Accepted {
  form: ResponseForm;
  yaml: boolean;
}

interface MediaRange {
  type: string;
  params: Record<string, string>;
}

function parseMediaRanges(header: string): MediaRange[] {
  return header
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part) => {
      const [type, ...rawParams] = part.split(';').map((piece) => piece.trim());
      const params: Record<string, string> = {};
      for (const param of rawParams) {
        const eq = param.indexOf('=');
        if (eq > 0) params[param.slice(0, eq).trim()] = param.slice(eq + 1).trim();
      }
      return { type: (type ?? '').toLowerCase(), params };
    });
}

/** Picks the first acceptable representation in the client's order of preference. */
export function negotiateResponse(acceptHeader: string | undefined): Accepted {
  if (!acceptHeader) return { form: 'object', yaml: false };
  for (const range of parseMediaRanges(acceptHeader)) {
    const json = range.type === 'application/json' || range.type === '*/*' || range.type === 'application/*';
    const yaml = range.type === 'application/yaml';
    if (!json && !yaml) continue;
    const as = range.params.as;
    if (as) {
      if (range.params.g !== 'meta.k8s.io' || !['v1', 'v1beta1'].includes(range.params.v ?? '')) continue;
      if (as === 'Table') return { form: 'table', yaml };
      if (as === 'PartialObjectMetadata' || as === 'PartialObjectMetadataList') return { form: 'partial-metadata', yaml };
      continue;
    }
    return { form: 'object', yaml };
  }
  throw errors.notAcceptable(`only the following media types are accepted: application/json, application/yaml, application/json;as=Table;v=v1;g=meta.k8s.io`);
}

export type BodyType = 'json' | 'yaml' | 'merge-patch' | 'json-patch' | 'apply-patch' | 'strategic-merge-patch' | 'unknown';

export function bodyTypeOf(contentType: string | undefined): BodyType {
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  switch (type) {
    case 'application/json':
    case '':
      return 'json';
    case 'application/yaml':
    case 'application/x-yaml':
    case 'text/yaml':
      return 'yaml';
    case 'application/merge-patch+json':
      return 'merge-patch';
    case 'application/json-patch+json':
      return 'json-patch';
    case 'application/apply-patch+yaml':
    case 'application/apply-patch+json':
      return 'apply-patch';
    case 'application/strategic-merge-patch+json':
      return 'strategic-merge-patch';
    default:
      return 'unknown';
  }
}

export const PATCH_TYPES = ['application/json-patch+json', 'application/merge-patch+json', 'application/apply-patch+yaml'];

function lineAndColumn(text: string, position: number): string {
  const before = text.slice(0, position);
  const line = before.split('\n').length;
  const column = position - before.lastIndexOf('\n');
  return `line ${line}, column ${column}`;
}

/** Parses a JSON body; a syntax error becomes a 400 that says where. */
export function parseJsonBody(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const position = /position (\d+)/.exec(message);
    const offset = jsonErrorOffset(text) ?? (position ? Number(position[1]) : undefined);
    const where =
      offset === undefined
        ? ''
        : offset >= text.length
          ? ` at the end of the body (${lineAndColumn(text, text.length)})`
          : ` at ${lineAndColumn(text, offset)}`;
    throw errors.badRequest(`the request body is not valid JSON${where}: ${message}`);
  }
}

/** Parses a YAML (or JSON, which is YAML) body holding one document. */
export function parseYamlBody(text: string): unknown {
  const documents = parseAllDocuments(text);
  const list = Array.isArray(documents) ? documents : [documents];
  const nonEmpty = list.filter((doc) => doc.contents !== null);
  if (nonEmpty.length > 1) throw errors.badRequest('the request body holds more than one YAML document; send one object per request');
  const doc = nonEmpty[0];
  if (!doc) return parseYaml(text);
  const problem = doc.errors[0];
  if (problem) {
    const pos = problem.linePos?.[0];
    const where = pos ? ` at line ${pos.line}, column ${pos.col}` : '';
    throw errors.badRequest(`the request body is not valid YAML${where}: ${problem.message.split('\n')[0]}`);
  }
  return doc.toJS();
}

export function parseBody(text: string, type: BodyType): unknown {
  return type === 'yaml' || type === 'apply-patch' ? parseYamlBody(text) : parseJsonBody(text);
}
