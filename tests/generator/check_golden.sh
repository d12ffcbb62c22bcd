#!/usr/bin/env bash
# Usage: check_golden.sh [--update] NOMNOM_GEN ENTITIES_DIR PROJECT_FILE GOLDEN_DIR
# Generates ENTITIES_DIR (PROJECT_FILE may be "-": none) as a plugin named after GOLDEN_DIR, as
# the build names it, and compares what it writes for review with the files of GOLDEN_DIR: the
# DDL (sql/postgresql.sql, sql/sqlite.sql) and the plugin's C++ source (<set>_plugin.cpp,
# <set>_transforms.cpp, expected as <file>.golden). It shows a unified diff (expected ->
# generated) on any difference, a file on one side only included.
#
# The check never writes GOLDEN_DIR. After a deliberate change of the generated code,
# regenerate every expected file (--update, what the target update_golden runs for each set) and
# review the diff:
#   cmake --build build --target update_golden && git diff tests/generator/golden
# NOMNOM_UPDATE_GOLDEN, which used to make the check regenerate (and so pass), fails it: a
# suite run with it set in its environment must not pass unnoticed.
set -euo pipefail
shopt -s nullglob

update=false
if [[ $1 == --update ]]; then
    update=true
    shift
elif [[ -n ${NOMNOM_UPDATE_GOLDEN:-} ]]; then
    echo "NOMNOM_UPDATE_GOLDEN is set: the golden check refuses to run; regenerate with" \
        "cmake --build build --target update_golden" >&2
    exit 1
fi
gen=$1
entities=$2
project=$3
golden=$4

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
project_args=()
[[ $project != - ]] && project_args=(--project "$project")
"$gen" --entities "$entities" "${project_args[@]}" --out "$out/plugin" \
    --name "$(basename "$golden")" 2>"$out/stderr" || {
    cat "$out/stderr" >&2
    exit 1
}

# The compared files, flat as in GOLDEN_DIR. The copies of the C++ transforms in transforms/ are
# their sources as written, and CMakeLists.txt is the same for every plugin. The C++ files are
# expected as <file>.golden: the tools that work on the project's own sources (a formatter, a
# build's glob, a check for repeated code) must leave generated output alone.
generated=$out/compared
mkdir "$generated"
cp "$out"/plugin/sql/*.sql "$generated"/
for source in "$out"/plugin/*.cpp "$out"/plugin/*.hpp; do
    cp "$source" "$generated/$(basename "$source").golden"
done

if $update; then
    mkdir -p "$golden"
    rm -f "$golden"/*
    cp "$generated"/* "$golden"/
    echo "updated $golden"
    exit 0
fi
status=0
while read -r name; do
    if ! diff -uN --label "expected $golden/$name" --label "generated $name" \
        "$golden/$name" "$generated/$name"; then
        status=1
    fi
done < <(find "$golden" "$generated" -maxdepth 1 -type f -printf '%f\n' | sort -u)
if ((status != 0)); then
    echo "The generated DDL or plugin source differs from the expected files. If the change is" \
        "meant, regenerate them with cmake --build build --target update_golden" >&2
fi
exit $status
