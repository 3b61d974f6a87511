# Layer boundary check, run by ctest (label unit) as cmake -P.
#
# Compiles one-line probes with a layer's own include path (INCS, '|'
# separated, from the library's INCLUDE_DIRECTORIES): every header in OK
# must be found, every header in BAD must be "not found". The OK probes
# prove the flags are right, so a BAD probe cannot pass by accident.
#   -DCC=compiler -DINCS=a|b -DOK=h1|h2 -DBAD=h3|h4 -DWORK=scratch dir
string(REPLACE "|" ";" incs "${INCS}")
string(REPLACE "|" ";" ok "${OK}")
string(REPLACE "|" ";" bad "${BAD}")
set(flags)
foreach(d ${incs})
  list(APPEND flags "-I${d}")
endforeach()
file(MAKE_DIRECTORY ${WORK})

function(probe header result_var err_var)
  string(MAKE_C_IDENTIFIER "${header}" name)
  set(src ${WORK}/${name}.c)
  file(WRITE ${src} "#include \"${header}\"\n")
  execute_process(COMMAND ${CC} -fsyntax-only ${flags} ${src}
                  RESULT_VARIABLE rc ERROR_VARIABLE err OUTPUT_QUIET)
  set(${result_var} ${rc} PARENT_SCOPE)
  set(${err_var} "${err}" PARENT_SCOPE)
endfunction()

set(failed FALSE)
foreach(h ${ok})
  probe(${h} rc err)
  if(NOT rc EQUAL 0)
    message(SEND_ERROR "${h} should compile with this layer's include path:\n${err}")
    set(failed TRUE)
  endif()
endforeach()
foreach(h ${bad})
  probe(${h} rc err)
  if(rc EQUAL 0 OR NOT err MATCHES "No such file")
    message(SEND_ERROR "${h} must not be reachable from this layer (rc ${rc}):\n${err}")
    set(failed TRUE)
  endif()
endforeach()
if(NOT failed)
  message(STATUS "include boundary holds: ok ${ok}; unreachable ${bad}")
endif()
