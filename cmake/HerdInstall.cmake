# Install rules (cmake --install BUILD [--prefix DIR]) and the Debian
# package (scripts/package, or cpack -G DEB in the build directory).
#
#   PREFIX/bin/herd, herd-server
#   PREFIX/share/herd/places.idx        the offline places index; an
#                                       installed herd-server finds it from
#                                       its own directory (../share/herd)
#   PREFIX/share/herd/herd.conf         the example herd.conf
#   PREFIX/share/man/man1/herd.1, man8/herd-server.8
#   PREFIX/lib/systemd/system/herd-server@.service, herd.target,
#                             herd.service
#   PREFIX/lib/sysusers.d/herd.conf     the user herd
#   SYSCONFDIR/herd/herd.conf           the herd.conf the units read
#   LOCALSTATEDIR/lib/herd, log/herd    data (0700) and logs (0750); the
#                                       package gives them to herd
#
# The prefix is the one of the install (--prefix may differ from the
# configured one): the units and herd.conf name the installed files, and
# SYSCONFDIR and LOCALSTATEDIR follow it as GNUInstallDirs has them: /etc
# and /var for the prefix /usr (a system-wide install, the package),
# PREFIX/etc and PREFIX/var for others. run_dir is /run/herd, or
# PREFIX/run/herd.
#
# At install time cmake_install.cmake includes this file again with
# HERD_INSTALL_STAGE set: it then writes the files that name paths.

# The install's directories for prefix into HERD_* (PARENT_SCOPE).
function(herd_install_paths prefix bindir datadir)
  if(prefix STREQUAL "/" OR prefix STREQUAL "/usr")
    set(etc /etc)
    set(var /var)
    set(run /run)
  elseif(prefix MATCHES "^/opt/([^/]+)$")
    set(etc /etc/opt/${CMAKE_MATCH_1})
    set(var /var/opt/${CMAKE_MATCH_1})
    set(run /run/opt/${CMAKE_MATCH_1})
  else()
    set(etc ${prefix}/etc)
    set(var ${prefix}/var)
    set(run ${prefix}/run)
  endif()
  string(REGEX REPLACE "/$" "" p "${prefix}")
  set(HERD_BIN ${p}/${bindir}/herd PARENT_SCOPE)
  set(HERD_SERVER_BIN ${p}/${bindir}/herd-server PARENT_SCOPE)
  set(HERD_PLACES_INDEX ${p}/${datadir}/herd/places.idx PARENT_SCOPE)
  set(HERD_ETC_DIR ${etc}/herd PARENT_SCOPE)
  set(HERD_CONF_FILE ${etc}/herd/herd.conf PARENT_SCOPE)
  set(HERD_SECRET_FILE ${etc}/herd/secret PARENT_SCOPE)
  set(HERD_DATA_DIR ${var}/lib/herd PARENT_SCOPE)
  set(HERD_LOG_DIR ${var}/log/herd PARENT_SCOPE)
  set(HERD_RUN_DIR ${run}/herd PARENT_SCOPE)
endfunction()

# At install time: herd.conf (share/herd, and SYSCONFDIR/herd) and the
# units, written for the install's prefix, and the empty directories. A
# function, so that its variables stay out of cmake_install.cmake's.
function(herd_install_stage)
  herd_install_paths("${CMAKE_INSTALL_PREFIX}" "${HERD_BINDIR}"
                     "${HERD_DATADIR}")
  set(src ${HERD_SOURCE_DIR}/deploy)
  # One directory per destination: installs to two prefixes at once (the
  # tests) do not write each other's files.
  string(MD5 key "$ENV{DESTDIR}|${CMAKE_INSTALL_PREFIX}")
  set(gen ${HERD_BINARY_DIR}/deploy/${key})
  configure_file(${src}/herd.conf.in ${gen}/herd.conf @ONLY)
  configure_file(${src}/systemd/herd-server@.service.in
                 ${gen}/herd-server@.service @ONLY)
  configure_file(${src}/systemd/herd.service.in ${gen}/herd.service @ONLY)
  set(p "${CMAKE_INSTALL_PREFIX}")
  file(INSTALL ${gen}/herd.conf DESTINATION ${p}/${HERD_DATADIR}/herd)
  file(INSTALL ${gen}/herd-server@.service ${gen}/herd.service
               ${src}/systemd/herd.target
       DESTINATION ${p}/${HERD_UNIT_DIR})
  file(INSTALL ${gen}/herd.conf DESTINATION ${HERD_ETC_DIR}
       PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
  # Empty directories, made with their modes (DESTDIR honoured).
  set(dirs ${HERD_DATA_DIR} ${HERD_LOG_DIR})
  set(modes "OWNER_READ,OWNER_WRITE,OWNER_EXECUTE"
            "OWNER_READ,OWNER_WRITE,OWNER_EXECUTE,GROUP_READ,GROUP_EXECUTE")
  foreach(i 0 1)
    list(GET dirs ${i} dir)
    list(GET modes ${i} mode)
    string(REPLACE "," ";" mode "${mode}")
    message(STATUS "Installing: $ENV{DESTDIR}${dir}")
    file(MAKE_DIRECTORY $ENV{DESTDIR}${dir})
    file(CHMOD $ENV{DESTDIR}${dir} DIRECTORY_PERMISSIONS ${mode})
  endforeach()
  # install_manifest.txt lists what file(INSTALL) added.
  set(CMAKE_INSTALL_MANIFEST_FILES ${CMAKE_INSTALL_MANIFEST_FILES}
      PARENT_SCOPE)
endfunction()

if(HERD_INSTALL_STAGE)
  herd_install_stage()
  return()
endif()

include(GNUInstallDirs)

set(HERD_SYSTEMD_UNIT_DIR "lib/systemd/system" CACHE STRING
    "Where the systemd units go, relative to the prefix")
set(HERD_SYSUSERS_DIR "lib/sysusers.d" CACHE STRING
    "Where the sysusers.d file goes, relative to the prefix")

install(TARGETS herd herd-server RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
# Built by server/CMakeLists.txt (herd_places_index, part of ALL).
install(FILES ${PROJECT_BINARY_DIR}/places.idx
        DESTINATION ${CMAKE_INSTALL_DATADIR}/herd)
install(FILES ${PROJECT_SOURCE_DIR}/deploy/man/herd.1
        DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES ${PROJECT_SOURCE_DIR}/deploy/man/herd-server.8
        DESTINATION ${CMAKE_INSTALL_MANDIR}/man8)
install(FILES ${PROJECT_SOURCE_DIR}/deploy/systemd/herd.sysusers
        DESTINATION ${HERD_SYSUSERS_DIR} RENAME herd.conf)
# What names the installed paths, written for the prefix of the install:
# herd.conf (share/herd, and SYSCONFDIR/herd), the units, the directories.
install(CODE "
set(HERD_INSTALL_STAGE ON)
set(HERD_SOURCE_DIR \"${PROJECT_SOURCE_DIR}\")
set(HERD_BINARY_DIR \"${PROJECT_BINARY_DIR}\")
set(HERD_BINDIR \"${CMAKE_INSTALL_BINDIR}\")
set(HERD_DATADIR \"${CMAKE_INSTALL_DATADIR}\")
set(HERD_UNIT_DIR \"${HERD_SYSTEMD_UNIT_DIR}\")
include(\"${CMAKE_CURRENT_LIST_FILE}\")
")

# The Debian package: cpack -G DEB in the build directory (scripts/package
# builds a release and runs it). Installed under /usr, so /etc/herd,
# /var/lib/herd and /var/log/herd; postinst makes the user herd and gives
# it the directories.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME herd)
set(CPACK_PACKAGE_VENDOR "herd")
set(CPACK_PACKAGE_CONTACT "herd maintainers <herd@example.org>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "herd of location servers that flood updates to their neighbours")
set(CPACK_PACKAGE_DESCRIPTION
    "A herd of herd-server processes answers IAMAT and WHATSAT from clients
and floods location updates to its neighbours over persistent TLS links;
the supervisor herd runs a herd on one machine, the systemd units
herd-server@NAME run its servers across machines.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# What the binaries are linked with (the test compares with their NEEDED
# entries), and adduser for postinst (3.130 and later know --comment).
set(CPACK_DEBIAN_PACKAGE_DEPENDS
    "libc6 (>= 2.34), libuv1 (>= 1.44), libcurl4 (>= 7.80), \
libjansson4 (>= 2.13), libssl3, libmicrohttpd12 (>= 0.9.75), libsystemd0, \
zlib1g, adduser (>= 3.130)")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    "${PROJECT_SOURCE_DIR}/deploy/debian/conffiles;\
${PROJECT_SOURCE_DIR}/deploy/debian/postinst;\
${PROJECT_SOURCE_DIR}/deploy/debian/prerm;\
${PROJECT_SOURCE_DIR}/deploy/debian/postrm")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
