# b24_proto_library(NAME <target> ROOT <import root> PROTOS <files relative to ROOT> [GRPC])
# Generates C++ (and gRPC stubs with GRPC) into the build tree, never the source tree.
function(b24_proto_library)
  cmake_parse_arguments(A "GRPC" "NAME;ROOT" "PROTOS" ${ARGN})
  set(out ${CMAKE_CURRENT_BINARY_DIR}/gen)
  file(MAKE_DIRECTORY ${out})
  set(srcs)
  foreach(p ${A_PROTOS})
    string(REGEX REPLACE "\\.proto$" "" base ${p})
    set(gen ${out}/${base}.pb.cc ${out}/${base}.pb.h)
    set(args --cpp_out=${out})
    if(A_GRPC)
      list(APPEND gen ${out}/${base}.grpc.pb.cc ${out}/${base}.grpc.pb.h)
      list(APPEND args --grpc_out=${out} --plugin=protoc-gen-grpc=$<TARGET_FILE:gRPC::grpc_cpp_plugin>)
    endif()
    add_custom_command(
      OUTPUT ${gen}
      COMMAND protobuf::protoc ARGS -I ${A_ROOT} -I ${Protobuf_INCLUDE_DIRS} ${args} ${A_ROOT}/${p}
      DEPENDS ${A_ROOT}/${p} protobuf::protoc
      COMMENT "protoc ${p}" VERBATIM)
    list(APPEND srcs ${gen})
  endforeach()
  add_library(${A_NAME} STATIC ${srcs})
  target_include_directories(${A_NAME} SYSTEM PUBLIC $<BUILD_INTERFACE:${out}> $<INSTALL_INTERFACE:include>)
  target_link_libraries(${A_NAME} PUBLIC protobuf::libprotobuf gRPC::grpc++)
endfunction()
