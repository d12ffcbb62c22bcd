#!/usr/bin/env bash
# Usage: run_fuzz.sh FUZZER SECONDS NAME SEED...
#        run_fuzz.sh --merge FUZZER NAME DIR...
# The first form fuzzes for SECONDS, from the corpus kept in the repository (corpus/NAME) and the
# seeds, with the JSON dictionary json.dict; then runs every file of regressions/NAME once. A
# SEED is SELECTOR:FILE: the selector (a number) becomes the input's first byte, which picks the
# subject (see generated_parser_fuzz.cpp); a .ndjson FILE gives one seed per line, any other
# file one seed. What the run finds goes to NOMNOM_FUZZ_CORPUS (kept and grown between runs) or
# else to a fresh temporary directory: corpus/NAME is only read. Exits non-zero on any finding;
# libFuzzer writes the input that caused it to ./crash-<sha1> (or leak-, oom-...).
# The second form replaces corpus/NAME by the smallest set of inputs it finds that reaches every
# edge that corpus/NAME and the corpora DIR... (which longer runs grew) reach; review and commit
# the result. Edges only, not how often each runs: that keeps the corpus at about a hundred small
# inputs, where libFuzzer's default merge keeps several hundred.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
options=(-rss_limit_mb=1024 "-dict=$here/json.dict")

if [[ $1 == --merge ]]; then
    fuzzer=$2
    kept=$here/corpus/$3
    shift 3
    merged=$(mktemp -d)
    trap 'rm -rf "$merged"' EXIT
    mkdir -p "$kept"
    "$fuzzer" "${options[@]}" -set_cover_merge=1 -use_counters=0 "$merged" "$kept" "$@"
    rm -rf "$kept"
    cp -r "$merged" "$kept"
    echo "corpus/${kept##*/}: $(find "$kept" -type f | wc -l) inputs"
    exit 0
fi

fuzzer=$1
seconds=$2
name=$3
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
    base=$(basename "$file")
    if [[ $file == *.ndjson ]]; then
        line=0
        while IFS= read -r json; do
            line=$((line + 1))
            printf '%s' "$json" | seed "$base-$line" "$selector"
        done <"$file"
    else
        seed "$base" "$selector" <"$file"
    fi
done

# libFuzzer writes new inputs into the first directory only.
"$fuzzer" "${options[@]}" -max_total_time="$seconds" -print_final_stats=1 "$corpus" \
    "$here/corpus/$name"
"$fuzzer" -rss_limit_mb=1024 "$here/regressions/$name"/*
