#!/usr/bin/env bash
# `make lint` (docs part): the project's documents stay true to the repository.
#
#   1. Every relative link in README.md, CONTRIBUTING.md, CHANGELOG.md and docs/**/*.md resolves
#      to a file or directory of the repository, and a `#anchor` (same file or another Markdown
#      file) to one of its headings (GitHub's slugs: lower case, punctuation dropped, spaces as
#      `-`, repeats numbered `-1`, `-2`, …). Links inside fenced code blocks are ignored.
#   2. No link and no path reference leaves the repository: no `../shared`, no relative link that
#      resolves outside the root. Web links (http, https) to upstream projects are allowed.
#   3. Every long flag the orchestrator's and the executor's command-line parsers define appears
#      in docs/operator.md, so the operator guide cannot silently fall behind the code.
#   4. Every repository path written as inline code in README.md, CONTRIBUTING.md and docs/**/*.md
#      (`scripts/foo.sh`, `orchestrator/src/x.rs`, `docs/security/`: text starting with one of the
#      repository's top-level directories) exists, so a renamed or removed file cannot stay named in
#      the docs. A `:line` or `#anchor` suffix is ignored; placeholders (`<name>`, `*`, `…`, `{a,b}`,
#      `$VAR`) and git-ignored paths (build output such as `fuzz/target/`) are not checked.
#      CHANGELOG.md is history: it may name files that are gone.
#
# Exit 0 when everything holds; otherwise every problem is printed (file:line: what) and exit 1.
# Needs only bash, grep, sed, awk and git.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
problems=0
fail() { echo "check-docs: $*" >&2; problems=$((problems + 1)); }

docs=(README.md CONTRIBUTING.md CHANGELOG.md)
while IFS= read -r f; do docs+=("$f"); done < <(find docs -name '*.md' -type f | sort)

# The heading slugs of a Markdown file, one a line (fenced code blocks skipped).
slugs() {
  awk '
    /^[[:space:]]*(```|~~~)/ { fence = !fence; next }
    fence { next }
    /^#+[ \t]/ {
      h = $0
      sub(/^#+[[:space:]]+/, "", h); sub(/[[:space:]]+#*[[:space:]]*$/, "", h)
      h = tolower(h)
      gsub(/[^a-z0-9 _-]/, "", h)
      gsub(/ /, "-", h)
      if (h in seen) { seen[h]++; print h "-" seen[h] } else { seen[h] = 0; print h }
    }' "$1"
}

# "line<TAB>target" of every inline link and image in a Markdown file, outside fenced code.
links() {
  awk '
    /^[[:space:]]*(```|~~~)/ { fence = !fence; next }
    fence { next }
    {
      line = $0
      gsub(/`[^`]*`/, "", line)   # inline code is not a link
      while (match(line, /\]\([^) ]+( "[^"]*")?\)/)) {
        t = substr(line, RSTART + 2, RLENGTH - 3)
        sub(/ ".*$/, "", t)
        print NR "\t" t
        line = substr(line, RSTART + RLENGTH)
      }
    }' "$1"
}

# True when a path relative to the root goes above the root at any step, even if it comes back
# (`../<clone name>/x` depends on how the clone is named). Lexical: `..` after a name cancels it.
climbs_out() {
  local depth=0 part
  local IFS=/
  for part in $1; do
    case "$part" in
      '' | .) ;;
      ..) depth=$((depth - 1)); [ "$depth" -lt 0 ] && return 0 ;;
      *) depth=$((depth + 1)) ;;
    esac
  done
  return 1
}

# 1 and 2: links.
for f in "${docs[@]}"; do
  [ -f "$f" ] || { fail "$f: missing (README.md, CONTRIBUTING.md and CHANGELOG.md are required)"; continue; }
  dir=$(dirname "$f")
  while IFS=$'\t' read -r n target; do
    case "$target" in
      http://* | https://*) continue ;;
      mailto:* | ftp:* | file:* | //*) fail "$f:$n: link $target: only web links and relative links are allowed"; continue ;;
    esac
    path=${target%%#*}
    anchor=
    [ "$path" != "$target" ] && anchor=${target#*#}
    if [ -z "$path" ]; then
      dest=$f
    else
      case "$path" in /*) fail "$f:$n: link $target: absolute paths do not resolve in a clone; use a relative link"; continue ;; esac
      dest=$dir/$path
      if [ ! -e "$dest" ]; then
        fail "$f:$n: link $target: no such file"
        continue
      fi
      if climbs_out "$dest"; then
        fail "$f:$n: link $target: leaves the repository"
        continue
      fi
    fi
    if [ -n "$anchor" ] && [ -f "$dest" ] && [[ "$dest" == *.md ]]; then
      if ! slugs "$dest" | grep -qxF -- "$anchor"; then
        fail "$f:$n: link $target: no heading with anchor #$anchor in $dest"
      fi
    fi
  done < <(links "$f")
done

# 2: no reference to the sibling directory the contract used to live in (any tracked file).
pattern='\.\./shared'
while IFS= read -r hit; do
  fail "$hit: refers to a file outside the repository"
done < <(git grep -nE "$pattern" -- . ':!scripts/check-docs.sh' 2>/dev/null)

# 3: every long flag of the two command-line parsers is in docs/operator.md.
operator=docs/operator.md
# Orchestrator: its clap tree (orchestrator/src/cmdargs.rs): each `#[arg(... long ...)]` names the
# flag (`long = "name"`), else the field that follows it does (`data_dir` is `--data-dir`).
orch_files=orchestrator/src/cmdargs.rs
orch_flags=$(
  awk '
    /#\[arg\(/ && /long/ {
      if (match($0, /long = "[a-z][a-z0-9-]+"/)) { s = substr($0, RSTART + 8, RLENGTH - 9); print s; next }
      pending = 1; next
    }
    pending && /^[[:space:]]*(pub )?[a-z_][a-z0-9_]*:/ {
      sub(/^[[:space:]]*(pub )?/, ""); sub(/:.*/, ""); gsub(/_/, "-"); print; pending = 0
    }' "$orch_files" | sort -u
)
# Executor: `Flag::Named("name", …)` arms and the ignored global flags.
exec_files=$(grep -rl --include='*.rs' 'Flag::Named(' executor/src | grep -v '_tests\.rs$')
exec_flags=$(
  for f in $exec_files; do
    grep -oE 'Flag::Named\("[a-z][a-z0-9-]+"' "$f" | sed -E 's/.*"(.*)"/\1/'
    grep -E 'GLOBAL_VALUE_FLAGS' "$f" | grep -oE '"[a-z][a-z0-9-]+"' | tr -d '"'
  done | sort -u
)
n_orch=$(printf '%s\n' "$orch_flags" | grep -c .)
n_exec=$(printf '%s\n' "$exec_flags" | grep -c .)
# A parser that moved or changed shape must not make this check pass by finding nothing.
[ "$n_orch" -ge 20 ] || fail "found only $n_orch orchestrator flags in [${orch_files//$'\n'/ }]: update scripts/check-docs.sh to the parser's new shape"
[ "$n_exec" -ge 10 ] || fail "found only $n_exec executor flags in [${exec_files//$'\n'/ }]: update scripts/check-docs.sh to the parser's new shape"
if [ -f "$operator" ]; then
  for flag in $orch_flags $exec_flags; do
    grep -qE -- "--$flag([^a-z0-9-]|\$)" "$operator" || fail "$operator: flag --$flag (defined by the command-line parser) is not documented"
  done
else
  fail "$operator: missing"
fi

# 4: repository paths in inline code exist.
tops=$(git ls-tree --name-only -d HEAD | sed 's/\./\\./g' | paste -sd'|' -)
n_paths=0
for f in "${docs[@]}"; do
  [ "$f" = CHANGELOG.md ] && continue
  [ -f "$f" ] || continue
  while IFS=$'\t' read -r n p; do
    case "$p" in *'<'* | *'*'* | *'…'* | *'{'* | *'$'*) continue ;; esac
    path=${p%%[:#]*}
    n_paths=$((n_paths + 1))
    [ -e "$path" ] && continue
    git check-ignore -q "$path" 2>/dev/null && continue
    fail "$f:$n: \`$p\`: no such file or directory in the repository"
  done < <(
    awk '
      /^[[:space:]]*(```|~~~)/ { fence = !fence; next }
      fence { next }
      {
        line = $0
        while (match(line, /`[^`]+`/)) {
          print NR "\t" substr(line, RSTART + 1, RLENGTH - 2)
          line = substr(line, RSTART + RLENGTH)
        }
      }' "$f" | grep -E "^[0-9]+"$'\t'"($tops)/[^[:space:]]*\$"
  )
done

if [ "$problems" -gt 0 ]; then
  echo "check-docs: $problems problem(s)" >&2
  exit 1
fi
echo "check-docs: ${#docs[@]} documents, links resolve, $n_paths repository paths in inline code exist; $n_orch orchestrator and $n_exec executor flags documented"
