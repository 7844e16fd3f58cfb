# Installs rfcf into a temporary prefix and builds a consumer project with find_package(rfcf).
file(REMOVE_RECURSE ${WORK_DIR})
execute_process(COMMAND ${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${WORK_DIR}/build -G ${GENERATOR}
                        -DRFCF_BUILD_TESTS=OFF -DRFCF_BUILD_EXAMPLES=OFF -DRFCF_BUILD_BENCHMARKS=OFF
                        -DRFCF_WITH_CUDA=OFF -DCMAKE_INSTALL_PREFIX=${WORK_DIR}/prefix
                RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "configuring rfcf failed")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --install ${WORK_DIR}/build RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "cmake --install failed")
endif()
# With MPI (MPIEXEC given: the rfcf build found it) the consumer also requires the installed
# component rfcf::mpi and runs its MPI program on 2 ranks.
set(_with_mpi OFF)
if(MPIEXEC)
  set(_with_mpi ON)
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/consumer/project -B ${WORK_DIR}/consumer -G ${GENERATOR}
                        -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix -DRFCF_CONSUMER_MPI=${_with_mpi} RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "configuring the consumer with find_package(rfcf) failed")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build ${WORK_DIR}/consumer RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "building the consumer failed")
endif()
execute_process(COMMAND ${WORK_DIR}/consumer/consumer RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "the consumer program failed")
endif()
if(MPIEXEC)
  execute_process(COMMAND ${MPIEXEC} --version OUTPUT_VARIABLE _version ERROR_QUIET)
  set(_flags)
  if(_version MATCHES "Open MPI|OpenRTE")
    # More ranks than cores, root in containers, no ptrace-based single copy (as tests/dist/mpi).
    set(_flags --oversubscribe)
    set(ENV{OMPI_ALLOW_RUN_AS_ROOT} 1)
    set(ENV{OMPI_ALLOW_RUN_AS_ROOT_CONFIRM} 1)
    set(ENV{OMPI_MCA_btl_vader_single_copy_mechanism} none)
  endif()
  execute_process(COMMAND ${MPIEXEC} ${MPIEXEC_NUMPROC_FLAG} 2 ${_flags} ${WORK_DIR}/consumer/consumer_mpi
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  message(STATUS "${out}")
  if(rc OR NOT out MATCHES "rank 0/2: sum 3 ok" OR NOT out MATCHES "rank 1/2: sum 3 ok")
    message(FATAL_ERROR "the consumer MPI program failed (${rc}): ${out}${err}")
  endif()
endif()
