# Target helpers: one library per folder, warnings as errors on our own code only.
function(b24_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wno-unused-parameter
    -Wno-missing-field-initializers)
  if(B24_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

# b24_library(NAME <name> SOURCES ... PUBLIC_DEPS ... PRIVATE_DEPS ...)
# Creates static library b24_<name> with alias b24::<name>; include root is the
# project root so headers are included as "service/rest/client.h".
function(b24_library)
  cmake_parse_arguments(A "" "NAME" "SOURCES;PUBLIC_DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(b24_${A_NAME} STATIC ${A_SOURCES})
  add_library(b24::${A_NAME} ALIAS b24_${A_NAME})
  target_include_directories(b24_${A_NAME} PUBLIC $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}>)
  target_link_libraries(b24_${A_NAME} PUBLIC ${A_PUBLIC_DEPS} PRIVATE ${A_PRIVATE_DEPS})
  b24_warnings(b24_${A_NAME})
  # Recorded for the layering check (tests/check_layering.py): a source may
  # include only headers of its own library and of the libraries it links.
  file(RELATIVE_PATH dir ${PROJECT_SOURCE_DIR} ${CMAKE_CURRENT_SOURCE_DIR})
  string(REPLACE ";" " " deps "${A_PUBLIC_DEPS};${A_PRIVATE_DEPS}")
  string(REPLACE ";" " " sources "${A_SOURCES}")
  set_property(GLOBAL APPEND PROPERTY B24_LAYERING "b24::${A_NAME}|${dir}|${deps}|${sources}")
endfunction()

# Writes what b24_library recorded to build/layering.txt, one library a line.
function(b24_write_layering)
  get_property(entries GLOBAL PROPERTY B24_LAYERING)
  string(REPLACE ";" "\n" text "${entries}")
  file(WRITE ${CMAKE_BINARY_DIR}/layering.txt "${text}\n")
endfunction()

# b24_test(NAME <name> LABEL unit|integration|e2e SOURCES ... DEPS ... [TIMEOUT s])
function(b24_test)
  cmake_parse_arguments(A "" "NAME;LABEL;TIMEOUT" "SOURCES;DEPS" ${ARGN})
  add_executable(${A_NAME} ${A_SOURCES})
  target_link_libraries(${A_NAME} PRIVATE ${A_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  b24_warnings(${A_NAME})
  add_test(NAME ${A_NAME} COMMAND ${A_NAME})
  if(NOT A_TIMEOUT)
    set(A_TIMEOUT 300)
  endif()
  set_tests_properties(${A_NAME} PROPERTIES LABELS ${A_LABEL} TIMEOUT ${A_TIMEOUT})
endfunction()
