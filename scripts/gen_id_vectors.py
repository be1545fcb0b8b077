#!/usr/bin/env python3
"""Regenerates schema/ids.json, the operation-id golden vectors (schema/ids.md).

Python's hashlib is the reference: the Python SDK hashes with
hashlib.blake2b, and md5 is what the JS SDK's crypto.createHash("md5") computes.
"""
import hashlib
import json
import pathlib

OUT = pathlib.Path(__file__).resolve().parent.parent / "schema" / "ids.json"


def blake2b_id(raw):
    return hashlib.blake2b(raw.encode()).hexdigest()[:64]


def md5_path_id(raw):
    return hashlib.md5(raw.encode()).hexdigest()[:16]


def main():
    vectors = []

    def blake2b(raw, note):
        vectors.append({"scheme": "blake2b", "raw": raw, "id": blake2b_id(raw), "note": note})
        return blake2b_id(raw)

    def md5_path(raw, note):
        vectors.append({"scheme": "md5_path", "raw": raw, "id": md5_path_id(raw), "note": note})

    root = {n: blake2b(str(n), f"root op #{n}") for n in (1, 2, 3, 4, 10, 123)}
    # The protocol.md table rows (the first two were seen from the real py SDK).
    blake2b(f"{root[1]}-1", "first child of op 1; item 1 if op 1 is a map")
    blake2b(f"{root[1]}-0", "item 0 of a map/parallel that is op 1")
    blake2b(f"{root[3]}-1", "first child of op 3")
    blake2b(f"{root[4]}-0", "item 0 of a map/parallel that is op 4")
    # A chain: root op 2 is a child context, its op 3 a map, item 5 of that map
    # holds op 1. Each level's prefix is the full id of the level above.
    child = blake2b(f"{root[2]}-3", "op 3 inside the child context that is root op 2")
    item = blake2b(f"{child}-5", "item 5 of the map that is op 3 of child 2")
    blake2b(f"{item}-1", "op 1 inside that item (three levels down)")
    blake2b(f"{root[1]}-12", "op 12 of child 1 (two-digit counter)")

    # The JS scheme hashes the raw path; map items take the parent's counter,
    # so item i of map "2" is "2-<i+1>".
    md5_path("1", "root op #1")
    md5_path("2", "root op #2")
    md5_path("1-1", "first child of op 1; item 0 if op 1 is a map")
    md5_path("1-1-2", "op 2 inside child 1-1")
    md5_path("3-1", "first child of op 3")
    md5_path("2-3-5-1", "op 1 inside item 4 of the map 2-3 (four levels)")
    md5_path("10-12", "two-digit counters")

    OUT.write_text(json.dumps(vectors, indent=2) + "\n")


if __name__ == "__main__":
    main()
