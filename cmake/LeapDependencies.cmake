# Finds leap's dependencies: LibTorch (from the torch wheel, via CMAKE_PREFIX_PATH), and Debian's
# sentencepiece, nlohmann_json, CLI11, spdlog and GoogleTest. Nothing is downloaded.
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

# sentencepiece ships a pkg-config file, no CMake package.
find_package(PkgConfig REQUIRED)
pkg_check_modules(SENTENCEPIECE REQUIRED IMPORTED_TARGET sentencepiece)
add_library(leap_sentencepiece INTERFACE)
target_link_libraries(leap_sentencepiece INTERFACE PkgConfig::SENTENCEPIECE)
