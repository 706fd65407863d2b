/**
 * Resource arguments as kubectl reads them: `vm`, `vm web db`, `vm/web sp/local`,
 * `vm,sp` (several types), a category (`quantix`, `all`), any name the registry knows
 * (plural, singular, short name, kind, `virtualmachines.quantix.io`).
 */
import { findResource, RESOURCES } from '../api-types/registry.js';
import type { ResourceDefinition } from '../api-types/schema/types.js';
import { UsageError } from './errors.js';

export interface ResourceTarget {
  def: ResourceDefinition;
  /** Undefined: every object of the type (subject to selectors). */
  names?: string[];
}

/** Resolves one resource type word; a category expands to several. */
export function resolveTypes(word: string, command?: string): ResourceDefinition[] {
  const out: ResourceDefinition[] = [];
  for (const part of word.split(',')) {
    if (!part) throw new UsageError(`empty resource type in "${word}"`, command);
    const def = findResource(part);
    if (def) {
      if (!out.includes(def)) out.push(def);
      continue;
    }
    const category = RESOURCES.filter((d) => d.categories.includes(part.toLowerCase()));
    if (category.length === 0) throw new UsageError(`the server doesn't have a resource type "${part}" (known: ${knownTypes()})`, command);
    for (const d of category) if (!out.includes(d)) out.push(d);
  }
  return out;
}

export function resolveType(word: string, command?: string): ResourceDefinition {
  const defs = resolveTypes(word, command);
  if (defs.length !== 1) throw new UsageError(`"${word}" names several resource types; name exactly one`, command);
  return defs[0]!;
}

/** `vm (virtualmachines), sp (storagepools), …` for error messages. */
export function knownTypes(): string {
  return RESOURCES.map((d) => (d.shortNames[0] ? `${d.plural} (${d.shortNames[0]})` : d.plural)).join(', ');
}

/**
 * Parses `TYPE [NAME...]` or `TYPE/NAME...`. With `requireNames` every target must
 * carry names (describe and delete without a selector).
 */
export function parseResourceArgs(args: readonly string[], command?: string): ResourceTarget[] {
  if (args.length === 0) return [];
  if (args.some((a) => a.includes('/'))) {
    const targets: ResourceTarget[] = [];
    for (const arg of args) {
      const slash = arg.indexOf('/');
      if (slash <= 0 || slash === arg.length - 1) {
        throw new UsageError(
          `there is no need to specify a resource type as a separate argument when passing arguments in resource/name form (e.g. 'qxctl get vm/web'); got "${arg}"`,
          command,
        );
      }
      const def = resolveType(arg.slice(0, slash), command);
      const name = arg.slice(slash + 1);
      const existing = targets.find((t) => t.def === def);
      if (existing) existing.names!.push(name);
      else targets.push({ def, names: [name] });
    }
    return targets;
  }
  const [typeWord, ...names] = args;
  const defs = resolveTypes(typeWord!, command);
  if (names.length > 0) {
    if (defs.length > 1) throw new UsageError(`names can only be given with a single resource type (got "${typeWord}")`, command);
    return [{ def: defs[0]!, names: [...new Set(names)] }];
  }
  return defs.map((def) => ({ def }));
}
