# leap_formats: the torch-free layer — base utilities, the file formats (safetensors, config.json,
# model folders), the tokenizers and the task-data readers. The main build links it into
# leap_core; tests/fuzz builds the same target with clang and sanitizers. The includer defines
# `leap_sentencepiece` (an INTERFACE target for Debian's sentencepiece) first.
set(_leap_src ${CMAKE_CURRENT_LIST_DIR})
add_library(leap_formats STATIC
  ${_leap_src}/base/error.cpp
  ${_leap_src}/base/fs_util.cpp
  ${_leap_src}/base/json_input.cpp
  ${_leap_src}/base/py_random.cpp
  ${_leap_src}/base/sha256.cpp
  ${_leap_src}/base/table.cpp
  ${_leap_src}/io/hf_config.cpp
  ${_leap_src}/io/hf_hub.cpp
  ${_leap_src}/io/model_path.cpp
  ${_leap_src}/io/npz.cpp
  ${_leap_src}/io/safetensors.cpp
  ${_leap_src}/text/regex.cpp
  ${_leap_src}/text/tokenizer.cpp
  ${_leap_src}/text/tokenizer_bpe.cpp
  ${_leap_src}/text/tokenizer_sp.cpp
  ${_leap_src}/text/unicode.cpp
  ${_leap_src}/eval/task_data.cpp)
target_include_directories(leap_formats PUBLIC ${_leap_src})
target_link_libraries(leap_formats PUBLIC nlohmann_json::nlohmann_json PRIVATE leap_sentencepiece BZip2::BZip2 ZLIB::ZLIB)
set_target_properties(leap_formats PROPERTIES POSITION_INDEPENDENT_CODE ON)
