#!/usr/bin/env bash
# Usage: run_fuzz.sh FUZZER SECONDS REGRESSIONS_DIR SEED...
# Seeds a corpus, fuzzes for SECONDS, then runs every file of REGRESSIONS_DIR once. A SEED is
# SELECTOR:FILE: the selector (a number) becomes the input's first byte, which picks the subject
# (see generated_parser_fuzz.cpp); a .ndjson FILE gives one seed per line, any other file one
# seed. The corpus is NOMNOM_FUZZ_CORPUS (kept and grown between runs) or else a fresh temporary
# directory. Exits non-zero on any finding; libFuzzer writes the input that caused it to
# ./crash-<sha1> (or leak-, oom-...).
set -euo pipefail

fuzzer=$1
seconds=$2
regressions=$3
shift 3

if [[ -n ${NOMNOM_FUZZ_CORPUS:-} ]]; then
    corpus=$NOMNOM_FUZZ_CORPUS
    mkdir -p "$corpus"
else
    corpus=$(mktemp -d)
    trap 'rm -rf "$corpus"' EXIT
fi

seed() { # seed NAME SELECTOR <payload
    { printf "\\$(printf '%03o' "$2")" && cat; } >"$corpus/seed-$1"
}
for spec in "$@"; do
    selector=${spec%%:*}
    file=${spec#*:}
    name=$(basename "$file")
    if [[ $file == *.ndjson ]]; then
        line=0
        while IFS= read -r json; do
            line=$((line + 1))
            printf '%s' "$json" | seed "$name-$line" "$selector"
        done <"$file"
    else
        seed "$name" "$selector" <"$file"
    fi
done

"$fuzzer" -max_total_time="$seconds" -rss_limit_mb=1024 -print_final_stats=1 "$corpus"
"$fuzzer" -rss_limit_mb=1024 "$regressions"/*
