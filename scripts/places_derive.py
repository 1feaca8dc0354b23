"""Derives herd's offline places file from GeoNames cities500.

Input: cities500.txt (GeoNames "geoname" table, tab-separated, no quoting)
and admin1.json ([{"code": "US.CA", "name": "California"}, ...]).
Output: gzip'd TSV, one place a line, sorted by geonameid, reproducible
(gzip mtime 0):

    geonameid  name  latitude  longitude  feature_code  country  region  population
"""

import gzip
import json
import sys


def main(cities_path, admin_path, out_path):
    with open(admin_path, encoding="utf-8") as f:
        regions = {a["code"]: a["name"] for a in json.load(f)}
    rows = []
    with open(cities_path, encoding="utf-8") as f:
        for line in f:
            c = line.rstrip("\n").split("\t")
            if len(c) < 19:
                raise SystemExit("malformed row: %r" % line[:80])
            gid, name, lat, lng, fcode, cc, adm1, pop = (
                c[0], c[1], c[4], c[5], c[7], c[8], c[10], c[14])
            region = regions.get("%s.%s" % (cc, adm1), "")
            for field in (name, region):
                if "\t" in field or "\n" in field:
                    raise SystemExit("tab or newline in %r" % field)
            rows.append((int(gid), name, lat, lng, fcode, cc, region, pop or "0"))
    rows.sort()
    text = "".join("\t".join(str(x) for x in r) + "\n" for r in rows)
    with open(out_path, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0,
                           compresslevel=9) as gz:
            gz.write(text.encode("utf-8"))


if __name__ == "__main__":
    if len(sys.argv) != 4:
        raise SystemExit("usage: places_derive.py cities500.txt admin1.json out.tsv.gz")
    main(*sys.argv[1:])
