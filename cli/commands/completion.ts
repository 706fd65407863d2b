/**
 * Shell completion. The scripts are thin: they call `qxctl __complete WORDS...` and offer
 * what it prints (one candidate a line), falling back to file names when it prints
 * nothing. The logic lives in `complete()` (unit-tested): verbs, sub-verbs, flags, flag
 * values (-o formats), resource types, and object names read from the server.
 */
import { RESOURCES } from '../../api-types/registry.js';
import { splitCommand, type FlagSpec } from '../args.js';
import type { Client } from '../client.js';
import { resourcePath } from '../../api-types/group-version.js';
import { GLOBAL_FLAGS, type Command } from '../command.js';
import { UsageError } from '../errors.js';
import { resolveType } from '../resources.js';

export const bashScript = `# qxctl bash completion. Load it with:  source <(qxctl completion bash)
_qxctl_complete() {
  local cur="\${COMP_WORDS[COMP_CWORD]}"
  local IFS=$'\\n'
  local candidates
  candidates=$("\${COMP_WORDS[0]}" __complete "\${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null)
  COMPREPLY=( $(compgen -W "$candidates" -- "$cur") )
}
complete -o default -F _qxctl_complete qxctl
complete -o default -F _qxctl_complete bin/qxctl
`;

export const zshScript = `#compdef qxctl
# qxctl zsh completion. Load it with:  source <(qxctl completion zsh)
_qxctl() {
  local -a candidates
  candidates=("\${(@f)$("\${words[1]}" __complete "\${(@)words[2,CURRENT]}" 2>/dev/null)}")
  if (( \${#candidates[@]} )) && [[ -n "\${candidates[1]}" ]]; then
    compadd -- "\${candidates[@]}"
  else
    _files
  fi
}
if (( $+functions[compdef] )); then compdef _qxctl qxctl; fi
`;

export const completionCommand: Command = {
  name: 'completion',
  summary: 'Print a shell completion script (bash or zsh).',
  usage: 'completion bash|zsh',
  description: `
Completes verbs, flags, resource types and object names (read from the server).
  bash:  source <(qxctl completion bash)      # or add it to ~/.bashrc
  zsh:   source <(qxctl completion zsh)       # after compinit`,
  // biome-ignore lint/suspicious/noTemplateCurlyInString: ${fpath[1]} is zsh's, printed as is
  examples: ['source <(qxctl completion bash)', 'qxctl completion zsh > "${fpath[1]}/_qxctl"'],
  flags: [],
  args: { min: 1, max: 1 },
  async run(ctx) {
    const shell = ctx.args[0];
    if (shell === 'bash') ctx.io.out(bashScript.trimEnd());
    else if (shell === 'zsh') ctx.io.out(zshScript.trimEnd());
    else throw new UsageError(`unsupported shell "${shell}": use bash or zsh`, ctx.command);
  },
};

export interface CompletionEnv {
  commands: Command[];
  /** Top-level words: verbs and groups. */
  topLevel: string[];
  isGroup(word: string): boolean;
  /** Object names of a type (empty on any failure). */
  names(type: string, namespace: string | undefined): Promise<string[]>;
}

function flagNames(specs: readonly FlagSpec[]): string[] {
  return specs.filter((s) => !s.hidden).flatMap((s) => [`--${s.name}`, ...(s.short ? [`-${s.short}`] : [])]);
}

const TYPE_WORDS = [...new Set(RESOURCES.flatMap((d) => [d.plural, ...d.shortNames]))];

/** Candidates for the last word of `words` (the words after `qxctl`, the last possibly empty). */
export async function complete(words: string[], env: CompletionEnv): Promise<string[]> {
  const cur = words.length ? words[words.length - 1]! : '';
  const prior = words.slice(0, -1);
  const { words: cmdWords, rest } = splitCommand(prior, GLOBAL_FLAGS, env.isGroup);
  const prev = prior[prior.length - 1];
  // Namespace given so far (for name lookups).
  let namespace: string | undefined;
  prior.forEach((w, i) => {
    if ((w === '-n' || w === '--namespace') && prior[i + 1]) namespace = prior[i + 1];
    else if (w.startsWith('--namespace=')) namespace = w.slice(12);
  });
  if (cmdWords.length === 0) {
    if (cur.startsWith('-')) return flagNames(GLOBAL_FLAGS);
    if (prev && ['--kubeconfig', '--context', '-n', '--namespace', '--request-timeout'].includes(prev)) return [];
    return env.topLevel;
  }
  if (cmdWords.length === 1 && env.isGroup(cmdWords[0]!)) {
    return env.commands.filter((c) => c.name.startsWith(`${cmdWords[0]} `)).map((c) => c.name.split(' ')[1]!);
  }
  const name = cmdWords.join(' ');
  if (name === 'help') return env.topLevel;
  const cmd = env.commands.find((c) => c.name === name);
  if (!cmd) return [];
  const specs = [...cmd.flags, ...GLOBAL_FLAGS];
  if (cur.startsWith('-')) return flagNames(specs);
  if (prev?.startsWith('-')) {
    const spec = specs.find((s) => prev === `--${s.name}` || prev === `-${s.short}`);
    if (spec && spec.type !== 'boolean') {
      if (spec.choices) return [...spec.choices];
      if (spec.name === 'node') return env.names('nodes', undefined);
      return []; // files, durations, selectors: the shell's default
    }
  }
  const positionals = rest.filter((w, i) => {
    if (w.startsWith('-')) return false;
    const before = rest[i - 1];
    const spec = before?.startsWith('-') && !before.includes('=') ? specs.find((s) => before === `--${s.name}` || before === `-${s.short}`) : undefined;
    return !(spec && spec.type !== 'boolean');
  });
  switch (name) {
    case 'completion':
      return positionals.length === 0 ? ['bash', 'zsh'] : [];
    case 'get':
    case 'describe':
    case 'delete': {
      if (positionals.length === 0) return [...TYPE_WORDS, 'quantix', 'all'];
      try {
        const def = resolveType(positionals[0]!);
        return env.names(def.plural, namespace);
      } catch {
        return [];
      }
    }
    case 'pool assign':
    case 'pool unassign':
      return positionals.length === 0 ? env.names('storagepools', undefined) : env.names('nodes', undefined);
    case 'pool files':
      return positionals.length === 0 ? env.names('storagepools', undefined) : [];
    case 'console':
    case 'vnc':
      return positionals.length === 0 ? env.names('virtualmachines', namespace) : [];
    case 'node cordon':
    case 'node uncordon':
    case 'node revoke':
    case 'node approve':
      return env.names('nodes', undefined);
    default:
      if (name.startsWith('vm ')) return env.names('virtualmachines', namespace);
      return [];
  }
}

/** Object names for completion, from the server (quietly empty on failure). */
export async function namesFromServer(client: Client, type: string, namespace: string | undefined): Promise<string[]> {
  try {
    const def = resolveType(type);
    const list = await client.list<{ items: { metadata: { name?: string } }[] }>(
      resourcePath(def, def.namespaced ? (namespace ?? client.namespace) : undefined),
      { timeoutMs: 5000 },
    );
    return list.items.map((o) => o.metadata.name ?? '').filter(Boolean);
  } catch {
    return [];
  }
}
