#!/usr/bin/env bash
# Set-up (`make test`'s deps, web build, type checks and codegen check) must leave the
# repository as it found it: a step that rewrites a tracked file (a lock file, generated
# code) or leaves a file git does not ignore would differ between a developer's tree and CI.
#
#   hack/tree-state.sh                   prints the state of the working tree: every path
#                                        `git status` reports, with a hash of its content
#   hack/tree-state.sh --unchanged FILE  fails, naming what changed, when the state differs
#                                        from the one saved in FILE
#
# Comparing before and after (not just "is the tree clean") keeps a developer's own
# uncommitted edits from failing the check. Outside a git checkout it is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  [[ "${1:-}" == --unchanged ]] && echo "tree-state: not a git checkout, so the clean-tree check is skipped"
  exit 0
fi

state() {
  git status --porcelain=v1 --untracked-files=all -z | while IFS= read -r -d '' entry; do
    path="${entry:3}"
    # A rename is followed by its source path in the next NUL-separated field.
    [[ "${entry:0:1}" == R ]] && IFS= read -r -d '' _
    if [[ -f "$path" ]]; then
      echo "${entry:0:2} $(git hash-object --no-filters -- "$path") $path"
    else
      echo "${entry:0:2} - $path"
    fi
  done
}

if [[ "${1:-}" != --unchanged ]]; then
  state
  exit 0
fi

before_file="${2:?usage: hack/tree-state.sh --unchanged FILE}"
changes=$(diff "$before_file" <(state) | sed -n -e 's/^< /  before: /p' -e 's/^> /  after:  /p' || true)
if [[ -n "$changes" ]]; then
  echo "tree-state: set-up changed the working tree (git status, content hash, path):" >&2
  echo "$changes" >&2
  echo "tree-state: a set-up step must not rewrite tracked files; files it writes belong in .gitignore" >&2
  exit 1
fi
