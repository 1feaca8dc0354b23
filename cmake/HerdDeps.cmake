find_package(PkgConfig REQUIRED)
pkg_check_modules(LIBUV REQUIRED IMPORTED_TARGET libuv>=1.44)
pkg_check_modules(LIBCURL REQUIRED IMPORTED_TARGET libcurl>=7.80)
pkg_check_modules(JANSSON REQUIRED IMPORTED_TARGET jansson>=2.13)
pkg_check_modules(MHD REQUIRED IMPORTED_TARGET libmicrohttpd>=0.9.75)
# sd_notify for systemd's Type=notify units (server/notify.c).
pkg_check_modules(LIBSYSTEMD REQUIRED IMPORTED_TARGET libsystemd>=247)
find_package(ZLIB REQUIRED)
find_package(OpenSSL REQUIRED)
