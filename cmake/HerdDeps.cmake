find_package(PkgConfig REQUIRED)
pkg_check_modules(LIBUV REQUIRED IMPORTED_TARGET libuv>=1.44)
pkg_check_modules(LIBCURL REQUIRED IMPORTED_TARGET libcurl>=7.80)
pkg_check_modules(JANSSON REQUIRED IMPORTED_TARGET jansson>=2.13)
