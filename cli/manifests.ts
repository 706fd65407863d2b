/**
 * Reading manifests for `apply -f` and `delete -f`: files, directories (`-R` recurses),
 * `-` for stdin; YAML (multi-document) or JSON; `kind: List` is flattened. Every object
 * is checked for apiVersion, kind and metadata.name and resolved against the registry,
 * with errors naming the file and document.
 */
import { readdirSync, readFileSync, statSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { KubeObject } from '../api-types/meta.js';
import { resourceForGVK, resourceForKind } from '../api-types/registry.js';
import { apiVersionOf } from '../api-types/group-version.js';
import type { ResourceDefinition } from '../api-types/schema/types.js';
import { CliError, ExitCode } from './errors.js';

const MANIFEST_EXTENSIONS = ['.yaml', '.yml', '.json'];

export interface Manifest {
  object: KubeObject;
  def: ResourceDefinition;
  /** Where it came from: `path` or `path#2` (document index, 1-based) or `<stdin>`. */
  source: string;
}

export class ManifestError extends CliError {
  constructor(message: string) {
    super(message, ExitCode.Usage);
    this.name = 'ManifestError';
  }
}

/** Expands the -f arguments into files (directories: manifest extensions only; -R recurses). */
export function expandPaths(paths: readonly string[], recursive: boolean): string[] {
  const out: string[] = [];
  const walk = (dir: string, depth: number) => {
    const entries = readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name));
    for (const entry of entries) {
      const full = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (recursive) walk(full, depth + 1);
      } else if (MANIFEST_EXTENSIONS.some((ext) => entry.name.endsWith(ext))) {
        out.push(full);
      }
    }
  };
  for (const path of paths) {
    if (path === '-') {
      out.push('-');
      continue;
    }
    let stat: Stats;
    try {
      stat = statSync(path);
    } catch {
      throw new ManifestError(`the path "${path}" does not exist`);
    }
    if (stat.isDirectory()) walk(path, 0);
    else out.push(path);
  }
  return out;
}

/** Parses one file's text into objects (YAML multi-doc or JSON; Lists flattened). */
export function parseManifestText(text: string, source: string): { object: KubeObject; source: string }[] {
  const docs = parseAllDocuments(text);
  const out: { object: KubeObject; source: string }[] = [];
  const many = docs.length > 1;
  docs.forEach((doc, index) => {
    const where = many ? `${source}#${index + 1}` : source;
    if (doc.errors.length) {
      const e = doc.errors[0]!;
      throw new ManifestError(`error parsing ${where}: ${e.message.split('\n')[0]}`);
    }
    const value = doc.toJS() as unknown;
    if (value === null || value === undefined) return; // empty document
    if (typeof value !== 'object' || Array.isArray(value))
      throw new ManifestError(`error parsing ${where}: a manifest must be an object, got ${Array.isArray(value) ? 'a list' : typeof value}`);
    const obj = value as KubeObject & { items?: unknown };
    if (typeof obj.kind === 'string' && obj.kind.endsWith('List') && Array.isArray(obj.items)) {
      obj.items.forEach((item, i) => {
        if (item && typeof item === 'object' && !Array.isArray(item)) out.push({ object: item as KubeObject, source: `${where} items[${i}]` });
        else throw new ManifestError(`error parsing ${where}: items[${i}] is not an object`);
      });
      return;
    }
    out.push({ object: obj, source: where });
  });
  return out;
}

/** Checks the envelope and finds the resource definition. */
export function resolveManifest(object: KubeObject, source: string): Manifest {
  const { apiVersion, kind } = object;
  if (typeof apiVersion !== 'string' || !apiVersion) throw new ManifestError(`${source}: apiVersion not set`);
  if (typeof kind !== 'string' || !kind) throw new ManifestError(`${source}: kind not set`);
  const def = resourceForGVK(apiVersion, kind);
  if (!def) {
    const byKind = resourceForKind(kind);
    throw new ManifestError(
      byKind
        ? `${source}: no kind "${kind}" is registered for version "${apiVersion}" (use apiVersion: ${apiVersionOf(byKind)})`
        : `${source}: no matches for kind "${kind}" in version "${apiVersion}"`,
    );
  }
  if (!object.metadata || typeof object.metadata !== 'object') throw new ManifestError(`${source}: metadata not set`);
  if (typeof object.metadata.name !== 'string' || !object.metadata.name) {
    throw new ManifestError(`${source}: metadata.name is required${object.metadata.generateName ? ' (generateName is not supported by apply)' : ''}`);
  }
  return { object, def, source };
}

/** Reads every manifest named by -f (stdin read through `readStdin`). */
export async function readManifests(paths: readonly string[], recursive: boolean, readStdin: () => Promise<string>): Promise<Manifest[]> {
  if (paths.length === 0) throw new ManifestError('must specify -f (a file, a directory or - for stdin)');
  const files = expandPaths(paths, recursive);
  const manifests: Manifest[] = [];
  for (const file of files) {
    let text: string;
    if (file === '-') text = await readStdin();
    else {
      try {
        text = readFileSync(file, 'utf8');
      } catch (err) {
        throw new ManifestError(`cannot read ${file}: ${(err as Error).message}`);
      }
    }
    for (const { object, source } of parseManifestText(text, file === '-' ? '<stdin>' : file)) manifests.push(resolveManifest(object, source));
  }
  if (manifests.length === 0) throw new ManifestError(`no objects passed (${files.length ? `found none in ${files.join(', ')}` : 'no manifest files found'})`);
  return manifests;
}
