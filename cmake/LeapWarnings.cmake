# An INTERFACE target carrying leap's warning flags (linked privately by every leap target and the
# tests). LEAP_WARNINGS_AS_ERRORS=ON (CI) makes them errors.
add_library(leap_warnings INTERFACE)
target_compile_options(leap_warnings INTERFACE -Wall -Wextra -Wno-unused-parameter)
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_GREATER_EQUAL 12)
  # GCC 12+ misreports `const char* + std::string&&` at -O2/-O3 as an overflowing or overlapping
  # memcpy inside libstdc++ (GCC bugs 105329, 105651); these two diagnostics say nothing of leap's code
  target_compile_options(leap_warnings INTERFACE -Wno-restrict -Wno-stringop-overflow)
endif()
if(LEAP_WARNINGS_AS_ERRORS)
  target_compile_options(leap_warnings INTERFACE -Werror)
endif()
