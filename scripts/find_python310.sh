#!/usr/bin/env bash
# Prints the path of a Python 3.10 interpreter (Rasa 3.6.21 supports Python 3.8-3.10 only).
# Order: $PYTHON310, python3.10 on PATH, pyenv's versions/3.10.*, /usr/bin/python3.10.
set -u
is310() { [ -x "$1" ] && "$1" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 10) else 1)' 2>/dev/null; }
candidates=()
[ -n "${PYTHON310:-}" ] && candidates+=("$PYTHON310")
command -v python3.10 >/dev/null 2>&1 && candidates+=("$(command -v python3.10)")
if command -v pyenv >/dev/null 2>&1; then
  root=$(pyenv root 2>/dev/null)
  for p in $(ls -d "$root"/versions/3.10.*/bin/python 2>/dev/null | sort -V -r); do candidates+=("$p"); done
fi
for p in $(ls -d "$HOME"/.pyenv/versions/3.10.*/bin/python 2>/dev/null | sort -V -r); do candidates+=("$p"); done
candidates+=(/usr/bin/python3.10 /usr/local/bin/python3.10)
for p in "${candidates[@]}"; do
  if is310 "$p"; then echo "$p"; exit 0; fi
done
cat >&2 <<'MSG'
error: no Python 3.10 interpreter found.
Rasa Open Source 3.6.21 runs on Python 3.8-3.10 only, and this project pins Python 3.10.
Install one (e.g. `pyenv install 3.10.13`, or your distribution's python3.10 package)
or point PYTHON310 at it:  make install PYTHON310=/path/to/python3.10
MSG
exit 1
