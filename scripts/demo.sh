#!/usr/bin/env bash
# The main job on the bundled photos (tests/fixtures/people: 3 people x 3 photos, real and licensed, see
# tests/fixtures/README.md), offline: fetch them (folder provider) into raw/, crop every face into aligned 112x112
# crops, prepare a deduplicated train/val/test dataset, then verify every listed pair.
#   scripts/demo.sh            (output in target/demo/)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/fetch-onnxruntime.sh >/dev/null || echo "ONNX Runtime unavailable: the tract engine will be used" >&2
cargo build --release --locked -p issc
issc=target/release/issc
out=target/demo

echo "== engine and models"
"$issc" doctor

echo "== issc fetch --dir tests/fixtures/people/<person> --out $out/raw"
for person in tests/fixtures/people/*/; do
    "$issc" fetch --dir "$person" --label "$(basename "$person")" --out "$out/raw"
done

echo "== issc crop --in $out/raw --out $out/crops"
"$issc" crop --in "$out/raw" --out "$out/crops"
find "$out/crops" -name '*.png' | sort | sed 's/^/   /'

echo "== issc prepare --in $out/crops --out $out/dataset --split 0.34,0.33,0.33"
"$issc" prepare --in "$out/crops" --out "$out/dataset" --split 0.34,0.33,0.33

echo "== issc verify on tests/fixtures/pairs.csv (threshold 0.363)"
right=0; total=0
while IFS=, read -r left rightfile same; do
    [ "$left" = left ] && continue
    line=$("$issc" verify --json "tests/fixtures/people/$left" "tests/fixtures/people/$rightfile")
    got=$(python3 -c 'import json,sys; print(1 if json.loads(sys.argv[1])["same"] else 0)' "$line")
    verdict=wrong; [ "$got" = "$same" ] && { verdict=ok; right=$((right + 1)); }
    total=$((total + 1))
    printf '   %-4s %-40s %-40s %s\n' "$verdict" "$left" "$rightfile" "$line"
done < tests/fixtures/pairs.csv
echo "== $right/$total pairs verified correctly"
[ "$right" = "$total" ]
