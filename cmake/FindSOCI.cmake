# SOCI ships neither a CMake config nor a .pc file on Debian. Backends are
# loaded by name at run time, so only soci_core is linked. SOCI's headers
# include Boost (soci-config.h hard-codes it), hence Boost headers are required.
find_path(SOCI_INCLUDE_DIR soci/soci.h)
find_library(SOCI_CORE_LIBRARY soci_core)
find_path(SOCI_BOOST_INCLUDE_DIR boost/optional.hpp)
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(SOCI REQUIRED_VARS SOCI_CORE_LIBRARY SOCI_INCLUDE_DIR SOCI_BOOST_INCLUDE_DIR)
if(SOCI_FOUND AND NOT TARGET SOCI::core)
  add_library(SOCI::core UNKNOWN IMPORTED)
  set_target_properties(SOCI::core PROPERTIES
    IMPORTED_LOCATION ${SOCI_CORE_LIBRARY}
    INTERFACE_INCLUDE_DIRECTORIES "${SOCI_INCLUDE_DIR};${SOCI_BOOST_INCLUDE_DIR}"
    INTERFACE_LINK_LIBRARIES ${CMAKE_DL_LIBS})
endif()
