option(HERD_WERROR "Treat warnings as errors" ON)
add_library(herd_warnings INTERFACE)
target_compile_options(herd_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wmissing-prototypes
  -Wformat=2 -Wvla -Wundef -Wimplicit-fallthrough -Wcast-qual)
if(HERD_WERROR)
  target_compile_options(herd_warnings INTERFACE -Werror)
endif()
