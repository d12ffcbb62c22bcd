#!/usr/bin/env bash
# Usage: check_golden.sh NOMNOM_GEN ENTITIES_DIR PROJECT_FILE GOLDEN_DIR
# Generates ENTITIES_DIR (PROJECT_FILE may be "-": none) and compares the DDL it writes,
# sql/postgresql.sql and sql/sqlite.sql, with GOLDEN_DIR/postgresql.sql and sqlite.sql, showing a
# unified diff (expected -> generated) on any difference.
#
# After a deliberate change of the DDL, regenerate every expected file and review the diff:
#   NOMNOM_UPDATE_GOLDEN=1 ctest --test-dir build -R golden && git diff tests/generator/golden
set -euo pipefail

gen=$1
entities=$2
project=$3
golden=$4

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
project_args=()
[[ $project != - ]] && project_args=(--project "$project")
"$gen" --entities "$entities" "${project_args[@]}" --out "$out" --name golden 2>"$out/stderr" || {
    cat "$out/stderr" >&2
    exit 1
}

status=0
for dialect in postgresql sqlite; do
    if [[ -n ${NOMNOM_UPDATE_GOLDEN:-} ]]; then
        mkdir -p "$golden"
        cp "$out/sql/$dialect.sql" "$golden/$dialect.sql"
        echo "updated $golden/$dialect.sql"
    elif ! diff -u --label "expected $golden/$dialect.sql" --label "generated $dialect.sql" \
        "$golden/$dialect.sql" "$out/sql/$dialect.sql"; then
        status=1
    fi
done
if ((status != 0)); then
    echo "The generated DDL differs from the expected files. If the change is meant, regenerate" \
        "them with NOMNOM_UPDATE_GOLDEN=1 ctest --test-dir build -R golden" >&2
fi
exit $status
