# Unit tests: one executable per module (tests/unit/test_<name>.c).
herd_unit_test(strparse herd_common)
herd_unit_test(linebuf herd_common)
herd_unit_test(dynbuf herd_common)
herd_unit_test(config herd_common)
herd_unit_test(proto herd_proto)
herd_unit_test(store herd_proto)
herd_unit_test(places_json herd_proto)
