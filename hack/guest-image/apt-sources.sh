#!/usr/bin/env bash
# Prints the Debian archives this machine's apt uses, one "URI SUITE" pair a line, read from
# its own configuration (deb822 /etc/apt/sources.list.d/*.sources, then the one-line format in
# /etc/apt/sources.list and /etc/apt/sources.list.d/*.list). Only binary ("deb") entries with
# the main component are printed, in the order apt lists them; no host name is ever written
# into the repository. Usage: apt-sources.sh [SUITE-PREFIX] (default bookworm: bookworm,
# bookworm-updates, bookworm-security). Fails when nothing matches.
set -euo pipefail

prefix=${1:-bookworm}
APT_ETC=${QX_APT_ETC:-/etc/apt}

{
  shopt -s nullglob
  # deb822: stanzas separated by blank lines; a field may continue on indented lines.
  for f in "$APT_ETC"/sources.list.d/*.sources; do
    awk '
      function flush() {
        if (types ~ /(^| )deb( |$)/ && comps ~ /(^| )main( |$)/ && enabled != "no") {
          n = split(uris, u, " "); m = split(suites, s, " ")
          for (i = 1; i <= n; i++) for (j = 1; j <= m; j++) print u[i], s[j]
        }
        types = uris = suites = comps = field = ""; enabled = "yes"
      }
      BEGIN { enabled = "yes" }
      /^#/ { next }
      /^[ \t]*$/ { flush(); next }
      /^[ \t]/ { val = $0; sub(/^[ \t]+/, "", val); add(field, val); next }
      {
        key = tolower($0); sub(/:.*/, "", key)
        val = $0; sub(/^[^:]*:[ \t]*/, "", val)
        field = key; set(key, val)
      }
      function set(k, v) { if (k == "types") types = v; else if (k == "uris") uris = v; else if (k == "suites") suites = v; else if (k == "components") comps = v; else if (k == "enabled") enabled = tolower(v) }
      function add(k, v) { if (k == "types") types = types " " v; else if (k == "uris") uris = uris " " v; else if (k == "suites") suites = suites " " v; else if (k == "components") comps = comps " " v }
      END { flush() }
    ' "$f"
  done
  # One-line format: deb [options] URI SUITE COMPONENT...
  for f in "$APT_ETC"/sources.list "$APT_ETC"/sources.list.d/*.list; do
    [[ -f "$f" ]] || continue
    sed -E -e 's/#.*//' -e 's/\[[^]]*\]//' "$f" | awk '$1 == "deb" && NF >= 4 { for (i = 4; i <= NF; i++) if ($i == "main") { print $2, $3; break } }'
  done
} | awk -v p="$prefix" '($2 == p || index($2, p "-") == 1) && !seen[$0]++ { sub(/\/+ /, " "); print; found = 1 } END { exit found ? 0 : 1 }' || {
  echo "apt-sources: no 'deb' entry with component main for suite $prefix* in $APT_ETC" >&2
  exit 1
}
