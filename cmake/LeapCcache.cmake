# LeapCcache — compile through ccache when it is installed (scripts/setup.sh installs it), so that a
# fresh clone on a machine that built leap before (CI's clean checkouts) reuses the objects instead
# of compiling LibTorch's headers again. Paths are hashed relative to the source tree (base_dir)
# and the working directory is not hashed, so two clones at different paths share the cache; the
# precompiled header is cached too (the sloppiness ccache's manual asks for). Does nothing when
# ccache is missing or LEAP_CCACHE=OFF; the cache lives where ccache puts it (~/.cache/ccache).
option(LEAP_CCACHE "Compile through ccache when it is installed" ON)
if(LEAP_CCACHE AND NOT CMAKE_CXX_COMPILER_LAUNCHER)
  find_program(LEAP_CCACHE_PROGRAM ccache)
  if(LEAP_CCACHE_PROGRAM)
    get_filename_component(_leap_ccache_root "${CMAKE_CURRENT_LIST_DIR}/.." ABSOLUTE)
    set(_leap_ccache_launcher ${CMAKE_COMMAND} -E env
        CCACHE_BASEDIR=${_leap_ccache_root} CCACHE_NOHASHDIR=true
        CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
        ${LEAP_CCACHE_PROGRAM})
    foreach(_lang IN ITEMS CXX CUDA)
      set(CMAKE_${_lang}_COMPILER_LAUNCHER ${_leap_ccache_launcher})
    endforeach()
    message(STATUS "ccache: ${LEAP_CCACHE_PROGRAM} (base_dir ${_leap_ccache_root})")
  endif()
endif()
