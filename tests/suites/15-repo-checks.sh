#!/usr/bin/env bash
# Repository checks (a few seconds), from the files git tracks:
#  - no file references a path outside the repository (the sibling "shared" folder, the work directory,
#    home directories): whoever clones the repository has everything cited;
#  - every relative link in the Markdown files resolves to a tracked file or
#    directory, and every #anchor to a heading of the file it points at.
# Ends with "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
passed=0 failed=0
self=tests/suites/15-repo-checks.sh

ok() { echo "ok   $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1"; failed=$((failed + 1)); }

if ! git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  echo "FAIL not a git work tree: cannot list the tracked files"
  echo "0 passed, 1 failed"
  exit 1
fi

# 1. Paths outside the repository. The patterns are split so that this file
# does not match itself; it is excluded anyway.
outside=('\.\./'"shared" '/wo''rk/' '/ho''me/[a-z]' '/ro''ot/' '/Us''ers/')
names=(dotdot_shared work_dir home_dir root_home macos_home)
for i in "${!outside[@]}"; do
  pat=${outside[i]}
  hits=$(git grep -n -I -E "$pat" -- . ":(exclude)$self" 2>/dev/null)
  name="no_tracked_file_references_${names[i]}"
  if [[ -z "$hits" ]]; then ok "$name"; else fail "$name"; echo "$hits" | head -n 10; fi
done

# 2. Links in Markdown files: [text](target) with a relative target.
mapfile -t mds < <(git ls-files '*.md')
bad_links=$(/usr/bin/python3 - "${mds[@]}" <<'EOF'
import os, re, subprocess, sys

tracked = set(subprocess.run(["git", "ls-files"], capture_output=True, text=True,
                             check=True).stdout.split("\n"))
dirs = set()
for f in tracked:
    d = os.path.dirname(f)
    while d:
        dirs.add(d)
        d = os.path.dirname(d)

def slug(h):
    # GitHub's heading anchors: lower case, punctuation dropped, blanks -> '-'
    h = re.sub(r"[`*_]", "", h.strip().lower())
    h = re.sub(r"[^\w\- ]", "", h)
    return h.replace(" ", "-")

def anchors(path):
    out = set()
    in_code = False
    for line in open(path, encoding="utf-8"):
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and line.startswith("#"):
            out.add(slug(line.lstrip("#")))
    return out

bad = 0
for md in sys.argv[1:]:
    text = open(md, encoding="utf-8").read()
    text = re.sub(r"```.*?```", "", text, flags=re.S)  # no links in code blocks
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"^[a-z]+:", target):
            continue  # http:, mailto: ...: not checked offline
        path, _, anchor = target.partition("#")
        dest = os.path.normpath(os.path.join(os.path.dirname(md), path)) if path else md
        if dest.startswith(".."):
            print(f"{md}: link '{target}' leaves the repository"); bad += 1
        elif dest not in tracked and dest not in dirs:
            print(f"{md}: link '{target}' names no tracked file"); bad += 1
        elif anchor and dest.endswith(".md") and anchor not in anchors(dest):
            print(f"{md}: link '{target}': no heading '{anchor}' in {dest}"); bad += 1
sys.exit(0 if bad == 0 else 1)
EOF
)
if [[ $? -eq 0 ]]; then ok "every_markdown_link_resolves (${#mds[@]} files)"; else
  fail "every_markdown_link_resolves"; echo "$bad_links" | head -n 20; fi

# 3. The documents the README promises exist and are not empty.
for doc in docs/PROTOCOL.md docs/ARCHITECTURE.md docs/OPERATIONS.md; do
  if git ls-files --error-unmatch "$doc" >/dev/null 2>&1 && [[ -s "$doc" ]]; then
    ok "tracked_$(basename "$doc" .md)"
  else fail "tracked_$(basename "$doc" .md)"; fi
done

echo "$passed passed, $failed failed"
((failed == 0))
