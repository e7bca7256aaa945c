#!/bin/bash
# usage: benches/data/http.sh N PATH...  — N timed GETs of each path against 127.0.0.1:18181 as acme's desk (staff);
# prints p50 and p99 in ms.
N=$1; shift
TOKEN=$(curl -s -XPOST 127.0.0.1:18181/api/v1/auth/login -H 'content-type: application/json' \
  -d '{"tenant":"acme","email":"desk@acme.test","password":"bench-password"}' | python3 -c 'import json,sys;print(json.load(sys.stdin)["token"])')
for path in "$@"; do
  curl -s -o /dev/null -H "Authorization: Bearer $TOKEN" "127.0.0.1:18181$path"   # warm-up
  for i in $(seq $N); do
    curl -s -o /dev/null -w '%{http_code} %{time_total}\n' -H "Authorization: Bearer $TOKEN" "127.0.0.1:18181$path"
  done | python3 "$(dirname "$0")/pct.py" "$path"
done
