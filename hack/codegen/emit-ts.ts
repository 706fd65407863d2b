/**
 * A small emitter from structural schemas to TypeScript declarations. Named schema nodes
 * (see `named()` in api-types/schema/types.ts) become exported interfaces / string-union
 * types; the rest is inlined. Descriptions become doc comments, `default` an @default tag.
 */
import { apiVersionOf } from '../../api-types/group-version.js';
import { typeInfoOf, type JSONSchema, type ResourceDefinition } from '../../api-types/schema/types.js';

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

function key(name: string): string {
  return IDENT.test(name) ? name : `'${name.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

function literal(v: unknown): string {
  return typeof v === 'string' ? `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'` : JSON.stringify(v);
}

function doc(lines: (string | undefined)[], indent: string): string {
  const text = lines
    .filter((l): l is string => !!l)
    .flatMap((l) => l.split('\n'))
    .map((l) => l.replace(/\*\//g, '*\\/'));
  if (text.length === 0) return '';
  if (text.length === 1) return `${indent}/** ${text[0]} */\n`;
  return `${indent}/**\n${text.map((l) => `${indent} * ${l}`.trimEnd()).join('\n')}\n${indent} */\n`;
}

function propertyDoc(s: JSONSchema): (string | undefined)[] {
  return [s.description, s.default !== undefined ? `@default ${JSON.stringify(s.default)}` : undefined];
}

class Emitter {
  readonly #decls: string[] = [];
  readonly #emitted = new Map<string, JSONSchema>();
  readonly #imports = new Map<string, Set<string>>();

  import(from: string, name: string): void {
    if (!this.#imports.has(from)) this.#imports.set(from, new Set());
    this.#imports.get(from)!.add(name);
  }

  /** The TS type expression for a schema, declaring named types on the way. */
  typeOf(s: JSONSchema, indent: string): string {
    const info = typeInfoOf(s);
    if (info) {
      if (info.importFrom) this.import(info.importFrom, info.name);
      else this.declare(info.name, s);
      return info.name + (s.nullable ? ' | null' : '');
    }
    return this.#inline(s, indent) + (s.nullable ? ' | null' : '');
  }

  #inline(s: JSONSchema, indent: string): string {
    if (s.enum) return s.enum.map(literal).join(' | ');
    switch (s.type) {
      case 'string':
        return 'string';
      case 'integer':
      case 'number':
        return 'number';
      case 'boolean':
        return 'boolean';
      case 'array': {
        const item = s.items ? this.typeOf(s.items, indent) : 'unknown';
        return /[ |]/.test(item) && !item.startsWith('{') ? `Array<${item}>` : `${item}[]`;
      }
      case 'object':
      case undefined:
        if (s.properties) return this.#objectBody(s, indent);
        if (s.additionalProperties) return `Record<string, ${this.typeOf(s.additionalProperties, indent)}>`;
        return 'Record<string, unknown>';
    }
  }

  #objectBody(s: JSONSchema, indent: string, overrides: Record<string, string> = {}): string {
    const inner = `${indent}  `;
    const required = new Set(s.required ?? []);
    const lines = Object.entries(s.properties ?? {}).map(([name, p]) => {
      const t = overrides[name] ?? this.typeOf(p, inner);
      const optional = name in overrides || required.has(name) ? '' : '?';
      return `${doc(propertyDoc(p), inner)}${inner}${key(name)}${optional}: ${t};`;
    });
    return `{\n${lines.join('\n')}\n${indent}}`;
  }

  declare(name: string, s: JSONSchema): void {
    const seen = this.#emitted.get(name);
    if (seen === s) return;
    if (seen) throw new Error(`two different schemas are both named ${name}`);
    this.#emitted.set(name, s);
    const info = typeInfoOf(s)!;
    if (s.enum) {
      const descs = info.enumDescriptions ?? {};
      const members = s.enum.map((v) => `${doc([descs[String(v)]], '  ')}  ${key(String(v))}: ${literal(v)},`).join('\n');
      this.#decls.push(
        `${doc([s.description], '')}export const ${name} = {\n${members}\n} as const;\n` +
          `${doc([s.description], '')}export type ${name} = (typeof ${name})[keyof typeof ${name}];\n`,
      );
      return;
    }
    const slot = this.#decls.push('') - 1; // keep declaration order = first use
    const body = s.properties ? `interface ${name} ${this.#objectBody(s, '')}` : `type ${name} = ${this.#inline(s, '')};`;
    this.#decls[slot] = `${doc([s.description], '')}export ${body}\n`;
  }

  resource(def: ResourceDefinition): void {
    this.import('../meta.js', 'KubeObject');
    this.import('../meta.js', 'KubeList');
    const apiVersion = apiVersionOf(def);
    // apiVersion, kind and metadata are always present on stored objects (the apiserver sets them).
    this.import('../meta.js', 'ObjectMeta');
    const overrides = { apiVersion: literal(apiVersion), kind: literal(def.kind), metadata: 'ObjectMeta' };
    const slot = this.#decls.push('') - 1;
    const body = this.#objectBody(def.schema, '', overrides);
    const scope = def.namespaced ? 'namespaced' : 'cluster-scoped';
    this.#decls[slot] =
      `${doc([def.schema.description, `${apiVersion} ${def.kind} (${scope}; resource ${def.plural}).`], '')}` +
      `export interface ${def.kind} extends KubeObject ${body}\n\n` +
      `export interface ${def.listKind} extends KubeList<${def.kind}> {\n  apiVersion: ${literal(apiVersion)};\n  kind: ${literal(def.listKind)};\n}\n`;
  }

  render(header: string, resources: readonly ResourceDefinition[]): string {
    const imports = [...this.#imports.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([from, names]) => `import type { ${[...names].sort().join(', ')} } from '${from}';`)
      .join('\n');
    const index =
      `/** Every resource kind and its object type. */\nexport interface ResourceTypes {\n` +
      resources.map((d) => `  ${d.kind}: ${d.kind};\n`).join('') +
      `}\n\nexport type ResourceKind = keyof ResourceTypes;\n`;
    return `${header}\n${imports}\n\n${this.#decls.join('\n')}\n${index}`;
  }
}

/** The full text of api-types/generated/types.ts. */
export function emitTypes(resources: readonly ResourceDefinition[], header: string): string {
  const e = new Emitter();
  for (const def of resources) e.resource(def);
  return e.render(header, resources);
}
