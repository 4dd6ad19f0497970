# Finds leap's dependencies: LibTorch (from the torch wheel, via CMAKE_PREFIX_PATH), Apache Arrow
# and Parquet (from the pyarrow wheel in the same venv, which ships libarrow/libparquet and their
# headers), and Debian's sentencepiece, nlohmann_json, CLI11, spdlog and GoogleTest. Nothing is
# downloaded.
find_package(Torch REQUIRED)
if(NOT Torch_VERSION AND DEFINED TORCH_VERSION)
  set(Torch_VERSION ${TORCH_VERSION})
endif()
message(STATUS "LibTorch ${Torch_VERSION} from ${Torch_DIR}")

# A CUDA torch wheel carries its own CUDA runtime and NCCL under site-packages/nvidia/*/lib.
# TorchConfig points its CUDA targets at whatever toolkit it finds on the system (here an older
# CUDA than the wheel's), so link against the wheel's copies and let ld resolve libtorch_cuda's
# dependencies (NCCL, cuDNN, ...) there too. Nothing of the system toolkit is linked.
file(GLOB LEAP_WHEEL_CUDA_LIBDIRS LIST_DIRECTORIES true "${TORCH_INSTALL_PREFIX}/../nvidia/*/lib")
if(LEAP_WHEEL_CUDA_LIBDIRS)
  foreach(dir ${LEAP_WHEEL_CUDA_LIBDIRS})
    add_link_options("LINKER:-rpath-link,${dir}")
  endforeach()
  file(GLOB _cudart "${TORCH_INSTALL_PREFIX}/../nvidia/*/lib/libcudart.so.*")
  if(TARGET CUDA::cudart AND _cudart)
    list(GET _cudart 0 _cudart)
    set_target_properties(CUDA::cudart PROPERTIES IMPORTED_LOCATION "${_cudart}")
  endif()
  # nvrtc is loaded lazily by libcaffe2_nvrtc; leap does not call it, so it is not linked.
  list(FILTER TORCH_LIBRARIES EXCLUDE REGEX "libnvrtc")
endif()
find_package(nlohmann_json 3.10 REQUIRED)
find_package(CLI11 REQUIRED)
find_package(spdlog REQUIRED)
find_package(BZip2 REQUIRED)  # HellaSwag's staged file is .bz2
find_package(ZLIB REQUIRED)   # mask.npz members are deflated

# sentencepiece ships a pkg-config file, no CMake package.
find_package(PkgConfig REQUIRED)
pkg_check_modules(SENTENCEPIECE REQUIRED IMPORTED_TARGET sentencepiece)
add_library(leap_sentencepiece INTERFACE)
target_link_libraries(leap_sentencepiece INTERFACE PkgConfig::SENTENCEPIECE)

# Arrow + Parquet from the venv's pyarrow wheel (lm-eval's `datasets` depends on it). The wheel has
# versioned sonames only (libarrow.so.2600): the imported targets point at those files.
execute_process(COMMAND ${LEAP_PYTHON} -c "import pyarrow; print(pyarrow.get_include()); print(pyarrow.get_library_dirs()[0]); print(pyarrow.__version__)"
                OUTPUT_VARIABLE _pa OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE _pa_rc)
if(NOT _pa_rc EQUAL 0)
  message(FATAL_ERROR "pyarrow is not importable by LEAP_PYTHON=${LEAP_PYTHON} (scripts/setup.sh installs it)")
endif()
string(REPLACE "\n" ";" _pa "${_pa}")
list(GET _pa 0 LEAP_ARROW_INCLUDE)
list(GET _pa 1 LEAP_ARROW_LIBDIR)
list(GET _pa 2 LEAP_ARROW_VERSION)
foreach(_lib arrow parquet)
  file(GLOB _so "${LEAP_ARROW_LIBDIR}/lib${_lib}.so.[0-9]*")
  list(FILTER _so EXCLUDE REGEX "\\.so\\.[0-9]+\\.[0-9]")  # libarrow.so.2600, not .so.2600.1.0
  if(NOT _so)
    message(FATAL_ERROR "lib${_lib}.so.* not found in ${LEAP_ARROW_LIBDIR}")
  endif()
  list(GET _so 0 _so)
  add_library(leap_${_lib} SHARED IMPORTED)
  set_target_properties(leap_${_lib} PROPERTIES IMPORTED_LOCATION "${_so}" INTERFACE_SYSTEM_INCLUDE_DIRECTORIES
                                                "${LEAP_ARROW_INCLUDE}" INTERFACE_INCLUDE_DIRECTORIES "${LEAP_ARROW_INCLUDE}")
endforeach()
message(STATUS "Arrow/Parquet ${LEAP_ARROW_VERSION} from ${LEAP_ARROW_LIBDIR}")
