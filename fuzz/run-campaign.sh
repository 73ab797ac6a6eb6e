#!/usr/bin/env bash
# A fuzzing campaign: every cargo-fuzz target in turn for SECONDS_PER_TARGET (default 600),
# at the lowest CPU priority. Prints each target's final libFuzzer stats line and whether it
# found a crash; exits non-zero when any did. See fuzz/README.md.
#
# usage: fuzz/run-campaign.sh [SECONDS_PER_TARGET] [TARGET...]
set -u

seconds=${1:-600}
shift $(($# > 0 ? 1 : 0))
case $seconds in
    '' | *[!0-9]*)
        echo "usage: $0 [SECONDS_PER_TARGET] [TARGET...]" >&2
        exit 2
        ;;
esac

cd "$(dirname "$0")" || exit 2

# target:max_len — inputs up to 64 KiB for frames, bodies and SSE streams; calc a little over
# its 4096-byte bound (so the length check is reached); config files up to 16 KiB.
all_targets=(frame_decoder:65536 rpc_body:65536 calc:8192 sse_stream:65536 config_loader:16384)
if (($# > 0)); then
    selected=()
    for name in "$@"; do
        found=
        for entry in "${all_targets[@]}"; do
            [[ ${entry%%:*} == "$name" ]] && selected+=("$entry") && found=1
        done
        [[ -n $found ]] || { echo "unknown target: $name" >&2; exit 2; }
    done
else
    selected=("${all_targets[@]}")
fi

echo "building the targets (release, debug assertions, AddressSanitizer)…"
nice -n 19 cargo +nightly fuzz build -O -a || exit 2
# The binaries are run directly, not through `cargo fuzz run`, so that every target runs the
# code as built here even when the tree changes during the campaign.
host=$(rustc +nightly -vV | sed -n 's/^host: //p')
bin_dir=target/$host/release
# What `cargo fuzz run` would set: the bundled SQLite's two file-static `aiOff` arrays look like
# an ODR violation to AddressSanitizer; they are not one.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_odr_violation=0"

logs=target/campaign
mkdir -p "$logs"
failed=0
summary=()
for entry in "${selected[@]}"; do
    target=${entry%%:*}
    max_len=${entry##*:}
    log=$logs/$target.log
    mkdir -p "corpus/$target" "seeds/$target" "artifacts/$target"
    echo
    echo "== $target: ${seconds} s, inputs up to $max_len bytes (log: fuzz/$log)"
    # New inputs go to corpus/<target> (the first directory); seeds/<target> is only read.
    # libFuzzer calls the target on the main thread: give it the 2 MiB stack of a tokio worker
    # (where these parsers run in the server) rather than 8 MiB, so deep recursion shows.
    (
        ulimit -s 2048
        exec nice -n 19 "$bin_dir/$target" -artifact_prefix="artifacts/$target/" \
            -max_total_time="$seconds" -max_len="$max_len" -timeout=10 -print_final_stats=1 \
            "corpus/$target" "seeds/$target"
    ) >"$log" 2>&1
    rc=$?
    stats=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1)
    runs=$(grep -E '^Done [0-9]+ runs' "$log" | tail -n 1)
    echo "${stats:-(no DONE line)}"
    [[ -n $runs ]] && echo "$runs"
    if ((rc == 0)); then
        echo "$target: no crash"
        summary+=("$target: no crash — ${runs:-?}")
    else
        failed=1
        echo "$target: CRASH (exit $rc)"
        grep -E 'panicked at|ERROR: libFuzzer|ERROR: AddressSanitizer|SUMMARY|Test unit written to|Base64' "$log" | head -n 12
        summary+=("$target: CRASH (exit $rc), see fuzz/$log and fuzz/artifacts/$target/")
    fi
done

echo
echo "== summary"
printf '%s\n' "${summary[@]}"
exit "$failed"
