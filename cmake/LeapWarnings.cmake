# An INTERFACE target carrying leap's warning flags (linked privately by every leap target).
add_library(leap_warnings INTERFACE)
target_compile_options(leap_warnings INTERFACE -Wall -Wextra -Wno-unused-parameter)
if(LEAP_WARNINGS_AS_ERRORS)
  target_compile_options(leap_warnings INTERFACE -Werror)
endif()
