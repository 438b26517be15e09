#!/usr/bin/env bash
# Create .venv with Python >= 3.12 and install spinefit with its dev tools.
# Finds python3.13 / python3.12 on PATH or under pyenv; fails clearly if neither exists.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv
stamp="$venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)"

works() {  # works PYTHON: true if PYTHON runs and is >= 3.12
    "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1
}

find_python() {
    local candidates=()
    [ -n "${SPINEFIT_PYTHON:-}" ] && candidates+=("$SPINEFIT_PYTHON")
    candidates+=(python3.13 python3.12)
    local root="${PYENV_ROOT:-$HOME/.pyenv}"
    for dir in "$root"/versions/3.13* "$root"/versions/3.12*; do
        [ -x "$dir/bin/python3" ] && candidates+=("$dir/bin/python3")
    done
    candidates+=(python3)
    for py in "${candidates[@]}"; do
        if works "$py"; then
            command -v "$py" 2>/dev/null || echo "$py"
            return 0
        fi
    done
    return 1
}

if [ -f "$stamp" ] && works "$venv/bin/python"; then
    exit 0
fi

if ! py=$(find_python); then
    echo "spinefit setup: needs Python >= 3.12, but found no python3.13 or python3.12" \
         "(on PATH or under ${PYENV_ROOT:-$HOME/.pyenv}/versions)." \
         "Install one (e.g. 'pyenv install 3.12') or set SPINEFIT_PYTHON=/path/to/python3.12." >&2
    exit 1
fi
echo "spinefit setup: using $py ($("$py" --version))" >&2
rm -rf "$venv"
"$py" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet -e ".[dev]"
touch "$stamp"
echo "spinefit setup: installed into $venv" >&2
