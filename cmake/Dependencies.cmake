# Finds every dependency once, so targets only name imported targets.

# LibTorch: Debian's libtorch-dev, or a PyTorch install's (TORCH_DIR=... or auto-detected through python).
if(TORCH_DIR)
  list(PREPEND CMAKE_PREFIX_PATH "${TORCH_DIR}")
elseif(NOT DEFINED Torch_DIR)
  find_program(YOLOCPP_PYTHON NAMES python3 python)
  if(YOLOCPP_PYTHON AND YOLOCPP_TORCH_FROM_PYTHON)
    execute_process(COMMAND ${YOLOCPP_PYTHON} -c "import torch.utils; print(torch.utils.cmake_prefix_path)"
                    OUTPUT_VARIABLE _torch_prefix OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
    if(_torch_prefix)
      list(PREPEND CMAKE_PREFIX_PATH "${_torch_prefix}")
    endif()
  endif()
endif()
find_package(Torch REQUIRED)
message(STATUS "yolocpp: LibTorch ${Torch_VERSION} at ${TORCH_INSTALL_PREFIX}")

find_package(OpenCV REQUIRED COMPONENTS core imgcodecs imgproc dnn videoio)
find_package(yaml-cpp REQUIRED)
find_package(nlohmann_json REQUIRED)
find_package(fmt REQUIRED)
find_package(LibArchive REQUIRED)
find_package(OpenSSL REQUIRED)
find_package(Threads REQUIRED)
# The train-only build (a cloud instance's) needs none of these: no downloader, no cloud client, no exporter.
if(NOT YOLOCPP_TRAIN_ONLY)
  find_package(CURL REQUIRED)
  find_package(libssh CONFIG QUIET)
  if(NOT libssh_FOUND)
    find_library(LIBSSH_LIBRARY ssh REQUIRED)
    add_library(ssh SHARED IMPORTED)
    set_target_properties(ssh PROPERTIES IMPORTED_LOCATION ${LIBSSH_LIBRARY})
  endif()
  find_package(Protobuf QUIET)
  find_package(ONNX QUIET)
endif()

# Torch's exported flags: keep them on the targets that include torch only.
add_library(yolocpp_torch_deps INTERFACE)
target_link_libraries(yolocpp_torch_deps INTERFACE ${TORCH_LIBRARIES})
target_include_directories(yolocpp_torch_deps SYSTEM INTERFACE ${TORCH_INCLUDE_DIRS})
