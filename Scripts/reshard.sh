#!/usr/bin/env bash
# Moves sessions between Redis shards after the shard list (REDIS_URL's comma list) changed.
#
#   Scripts/reshard.sh OLD_LIST NEW_LIST [--dry-run] [--prefix afw:]
#
# OLD_LIST / NEW_LIST are comma-separated redis:// URLs in the order the instances use them;
# rediss:// URLs take REDIS_TLS_CA_FILE, REDIS_TLS_SERVER_NAME, REDIS_TLS_CERT_FILE and
# REDIS_TLS_KEY_FILE from the environment, as the instances do.
# Jump hash moves only what must move: appending one shard moves about 1/(n+1) of the sessions,
# all to the new shard; reordering or removing shards moves many more (see REDIS_INTEGRATION.md).
# Procedure: stop the instances (or every writer), run this, start the instances with NEW_LIST.
# With Sentinel, pass each master's current address (redis-cli -p 26379 SENTINEL
# get-master-addr-by-name NAME).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
[ $# -ge 2 ] || { sed -n '2,12p' "$0" >&2; exit 2; }
from="$1" to="$2"
shift 2
bin="${SWITCHBOARD_BIN:-}"
if [ -z "$bin" ]; then
    (cd "$root" && swift build -c release >&2)
    bin="$(cd "$root" && swift build -c release --show-bin-path)/switchboard"
fi
case " $* " in
    *" --dry-run "*) exec "$bin" reshard --from "$from" --to "$to" "$@" ;;
esac
# First say what would move, then move it.
"$bin" reshard --from "$from" --to "$to" --dry-run "$@"
"$bin" reshard --from "$from" --to "$to" "$@"
