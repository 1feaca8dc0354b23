# One fuzz smoke run (ctest fuzz.<target>.smoke), as a script so that the
# corpus is copied afresh each time: the run is then the same every time
# (-seed=1), and what libFuzzer adds stays in the build tree.
#
#   cmake -DFUZZER=bin -DSEEDS=dir -DWORK=dir -DDICT=file -P smoke.cmake
foreach(_var FUZZER SEEDS WORK DICT)
  if(NOT DEFINED ${_var})
    message(FATAL_ERROR "smoke.cmake: -D${_var}=... is required")
  endif()
endforeach()

file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK}/corpus ${WORK}/artifacts)
file(COPY ${SEEDS}/ DESTINATION ${WORK}/corpus)

execute_process(
  COMMAND ${FUZZER} -runs=20000 -seed=1 -max_len=512 -dict=${DICT}
          -artifact_prefix=${WORK}/artifacts/ -print_final_stats=1
          ${WORK}/corpus
  RESULT_VARIABLE _rc)
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "${FUZZER} failed (${_rc}): the input is in "
                      "${WORK}/artifacts/")
endif()
