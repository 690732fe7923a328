# tinyc_add_model(<target> MODEL <file.onnx> [TARGET <tinyc target>] [CALIB <samples>] [OPTIONS <extra tinyc flags>...])
#
# Compiles a neural network with tinyc at build time and defines a static
# library <target> with the generated C and tinyc's CMSIS-NN kernels:
#
#     include(cmake/tinyc.cmake)
#     tinyc_add_model(magnet MODEL model.onnx TARGET stm32h7 CALIB calib.npz)
#     target_link_libraries(app PRIVATE magnet)      # #include "<model stem>.h"
#
# `tinyc compile` runs through add_custom_command: again whenever the model
# or the calibration data changes. -DTINYC_CMSIS_NN_DIR=/path/to/CMSIS-NN
# builds against Arm's CMSIS-NN instead of tinyc's kernels. The generated
# linker snippet is ${<target>_TINYC_DIR}/<model stem>_sections.ld.
find_package(Python3 REQUIRED COMPONENTS Interpreter)

function(tinyc_add_model name)
  cmake_parse_arguments(ARG "" "MODEL;TARGET;CALIB" "OPTIONS" ${ARGN})
  if(NOT ARG_MODEL)
    message(FATAL_ERROR "tinyc_add_model(${name}): MODEL is required")
  endif()
  if(NOT ARG_TARGET)
    set(ARG_TARGET stm32h7)
  endif()
  get_filename_component(model "${ARG_MODEL}" ABSOLUTE)

  # The generated files' names and tinyc's runtime folder, asked from tinyc itself.
  execute_process(
    COMMAND "${Python3_EXECUTABLE}" -m tinyc.backends.cmsis_nn.info "${model}"
    OUTPUT_VARIABLE info RESULT_VARIABLE rc ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "tinyc is not importable by ${Python3_EXECUTABLE}: ${err}")
  endif()
  string(REGEX MATCH "prefix=([^\n]*)" _ "${info}")
  set(prefix "${CMAKE_MATCH_1}")
  string(REGEX MATCH "runtime=([^\n]*)" _ "${info}")
  set(runtime "${CMAKE_MATCH_1}")

  set(out "${CMAKE_CURRENT_BINARY_DIR}/tinyc_${name}")
  set(generated "${out}/${prefix}.c" "${out}/${prefix}_weights.c" "${out}/${prefix}.h" "${out}/${prefix}_data.h")
  set(cmd "${Python3_EXECUTABLE}" -m tinyc.cli compile "${model}" --target "${ARG_TARGET}" -o "${out}")
  set(deps "${model}")
  if(ARG_CALIB)
    get_filename_component(calib "${ARG_CALIB}" ABSOLUTE)
    list(APPEND cmd --quantize int8 --calib "${calib}")
    list(APPEND deps "${calib}")
  endif()
  add_custom_command(
    OUTPUT ${generated}
    COMMAND ${cmd} ${ARG_OPTIONS}
    DEPENDS ${deps}
    COMMENT "tinyc: compiling ${ARG_MODEL} for ${ARG_TARGET}"
    VERBATIM)

  if(NOT TARGET tinyc_runtime)
    add_subdirectory("${runtime}" "${CMAKE_BINARY_DIR}/tinyc_runtime")
  endif()
  add_library(${name} STATIC "${out}/${prefix}.c" "${out}/${prefix}_weights.c")
  target_include_directories(${name} PUBLIC "${out}")
  target_link_libraries(${name} PUBLIC tinyc_runtime)
  set_target_properties(${name} PROPERTIES C_STANDARD 99 C_STANDARD_REQUIRED ON C_EXTENSIONS OFF)
  set(${name}_TINYC_DIR "${out}" PARENT_SCOPE)
  set(${name}_TINYC_RUNTIME_DIR "${runtime}" PARENT_SCOPE)
endfunction()
