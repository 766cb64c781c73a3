# Sourced by scripts/up and scripts/test: puts uv in .tools/ and the locked environment in .venv/.
# Needs only Python 3.11 and its venv module; everything else comes from uv.lock.
set -euo pipefail
# Let Python keep compiled bytecode: without it every process (Prefect workers, flow runs, the API)
# recompiles Prefect and its dependencies at start-up, seconds each time.
unset PYTHONDONTWRITEBYTECODE
cd "$(dirname "${BASH_SOURCE[0]}")/.."
UV_VERSION=0.13.9
PYTHON=$("$(command -v python3.11 || command -v python3)" -c 'import sys; print(sys.executable)')
if [ ! -x .tools/bin/uv ] || [ "$(.tools/bin/uv --version | cut -d' ' -f2)" != "$UV_VERSION" ]; then
    "$PYTHON" -m venv .tools
    .tools/bin/python -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
fi
export UV_PYTHON="$PYTHON"
.tools/bin/uv sync --frozen --quiet
uv() { "$PWD/.tools/bin/uv" "$@"; }
