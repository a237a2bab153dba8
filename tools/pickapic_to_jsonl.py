#!/usr/bin/env python3
"""Convert Pick-a-Pic v2 parquet shards into vkpref's JSON Lines manifest.

Pick-a-Pic v2 (yuvalkirstain/pickapic_v2 and its copies) stores rows with the
columns caption, jpg_0, jpg_1 (JPEG bytes), label_0, label_1 and optional
are_different, has_label, model_0, model_1, user_id, ranking_id, ... (see the
dataset card; docs/DATA.md describes the manifest). This writes

  OUT/img/<shard>_<row>_0.jpg, OUT/img/<shard>_<row>_1.jpg   (the bytes as stored)
  OUT/pairs.jsonl   {"caption", "jpg_0", "jpg_1", "label_0", "label_1", + optional fields}

with paths relative to OUT, the manifest written to a temporary name and
renamed into place last. Ties are kept (vkpref train drops and counts them)
unless --drop-ties. Needs pyarrow (Debian: python3-pyarrow where available).

  tools/pickapic_to_jsonl.py SHARD.parquet [...] --out DIR [--limit N] [--drop-ties]
  tools/pickapic_to_jsonl.py --self-test     # exit 77 (skipped) without pyarrow
"""
import argparse
import json
import os
import sys
import tempfile

OPTIONAL = ["are_different", "has_label", "model_0", "model_1", "user_id", "ranking_id", "caption_mismatch"]
SKIPPED = 77  # ctest's SKIP_RETURN_CODE


def convert(shards, out, limit=None, drop_ties=False):
    import pyarrow.parquet as pq

    os.makedirs(os.path.join(out, "img"), exist_ok=True)
    rows, ties = [], 0
    for s, shard in enumerate(shards):
        table = pq.read_table(shard)
        missing = [c for c in ("caption", "jpg_0", "jpg_1", "label_0", "label_1") if c not in table.column_names]
        if missing:
            sys.exit(f"{shard}: missing column(s) {', '.join(missing)}")
        cols = {c: table.column(c).to_pylist() for c in table.column_names if c in OPTIONAL or c in
                ("caption", "jpg_0", "jpg_1", "label_0", "label_1")}
        for i in range(table.num_rows):
            if limit is not None and len(rows) >= limit:
                break
            l0, l1 = float(cols["label_0"][i]), float(cols["label_1"][i])
            if l0 == l1:
                ties += 1
                if drop_ties:
                    continue
            row = {"caption": cols["caption"][i]}
            for k in (0, 1):
                data = cols[f"jpg_{k}"][i]
                if not isinstance(data, (bytes, bytearray)):
                    sys.exit(f"{shard}: row {i}: jpg_{k} is not image bytes")
                name = f"img/{s:03d}_{i:07d}_{k}.jpg"
                with open(os.path.join(out, name), "wb") as f:
                    f.write(data)
                row[f"jpg_{k}"] = name
            row["label_0"], row["label_1"] = l0, l1
            for c in OPTIONAL:
                if c in cols and cols[c][i] is not None:
                    row[c] = cols[c][i]
            rows.append(row)
    fd, tmp = tempfile.mkstemp(dir=out, prefix="pairs.jsonl.tmp-")
    with os.fdopen(fd, "w") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, os.path.join(out, "pairs.jsonl"))
    print(f"{len(rows)} rows ({ties} ties {'dropped' if drop_ties else 'kept'}) -> {os.path.join(out, 'pairs.jsonl')}")
    return rows


def self_test():
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        print("SKIP: pyarrow is not installed; tools/pickapic_to_jsonl.py cannot be tested here")
        return SKIPPED
    with tempfile.TemporaryDirectory() as d:
        jpg = b"\xff\xd8\xff\xe0fake"
        t = pa.table({"caption": ["a", "b", "c"], "jpg_0": [jpg, jpg, jpg], "jpg_1": [jpg, jpg, jpg],
                      "label_0": [1.0, 0.5, 0.0], "label_1": [0.0, 0.5, 1.0], "model_0": ["m", "m", "m"],
                      "best_image_uid": ["x", "y", "z"]})
        pq.write_table(t, os.path.join(d, "s.parquet"))
        rows = convert([os.path.join(d, "s.parquet")], os.path.join(d, "out"), drop_ties=True)
        assert [r["caption"] for r in rows] == ["a", "c"], rows
        assert rows[1]["label_1"] == 1.0 and rows[0]["model_0"] == "m" and "best_image_uid" not in rows[0]
        with open(os.path.join(d, "out", rows[0]["jpg_0"]), "rb") as f:
            assert f.read() == jpg
    print("self-test passed")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("shards", nargs="*")
    ap.add_argument("--out")
    ap.add_argument("--limit", type=int)
    ap.add_argument("--drop-ties", action="store_true")
    ap.add_argument("--self-test", action="store_true")
    a = ap.parse_args()
    if a.self_test:
        return self_test()
    if not a.shards or not a.out:
        ap.error("give parquet shards and --out DIR")
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        sys.exit("pyarrow is not installed (Debian: apt-get install python3-pyarrow where packaged)")
    convert(a.shards, a.out, a.limit, a.drop_ties)
    return 0


if __name__ == "__main__":
    sys.exit(main())
