# Install rules and the CMake package: after `cmake --install build --prefix P`, another project does
#   find_package(yolocpp REQUIRED COMPONENTS detector)   # with CMAKE_PREFIX_PATH=P
#   target_link_libraries(app PRIVATE yolocpp::detector)
# and includes <yolocpp/detector.hpp>. Components: detector (run a trained model), train (datasets, training,
# validation, weight download, ONNX export; brings detector), cloud (rented GPUs; brings train). Without
# COMPONENTS every one is loaded and yolocpp::yolocpp is their union. The libraries are static, so the package
# re-finds their dependencies, per component, only for the components asked for (yolocppConfig.cmake.in).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(YOLOCPP_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/yolocpp)

# One export set per component (registered by yolocpp_module), so a consumer's package load reads only the
# targets, and so only the dependencies, of what it asked for.
get_property(_mods GLOBAL PROPERTY YOLOCPP_MODULES)
foreach(c ${YOLOCPP_COMPONENTS})
  set(_libs "")
  foreach(m ${_mods})
    get_property(_c GLOBAL PROPERTY YOLOCPP_COMPONENT_${m})
    if(_c STREQUAL c)
      list(APPEND _libs yolocpp_${m})
    endif()
  endforeach()
  if(c STREQUAL "detector")
    list(APPEND _libs yolocpp_torch_deps)
  elseif(c STREQUAL "train")
    list(APPEND _libs yolocpp_train)
  endif()
  install(TARGETS ${_libs} EXPORT yolocpp-${c}-targets
          ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
          LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
          INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
  install(EXPORT yolocpp-${c}-targets NAMESPACE yolocpp:: DESTINATION ${YOLOCPP_CMAKE_DIR})
endforeach()
install(TARGETS yolocpp EXPORT yolocpp-all-targets)
install(EXPORT yolocpp-all-targets NAMESPACE yolocpp:: DESTINATION ${YOLOCPP_CMAKE_DIR})

# Public headers (std + OpenCV only). yolocpp/util/error.hpp stays as a forwarding header for code written
# against it before yolocpp/error.hpp existed.
install(FILES ${PROJECT_SOURCE_DIR}/include/yolocpp/detector.hpp ${PROJECT_SOURCE_DIR}/include/yolocpp/error.hpp
              ${PROJECT_SOURCE_DIR}/include/yolocpp/log.hpp ${PROJECT_BINARY_DIR}/generated/yolocpp/version.hpp
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/yolocpp)
install(FILES ${PROJECT_SOURCE_DIR}/src/yolocpp/util/error.hpp DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/yolocpp/util)

# Where this build found LibTorch, so a consumer finds the same one without being told.
set(YOLOCPP_TORCH_DIR_HINT "${Torch_DIR}")
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/yolocppConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/yolocppConfig.cmake INSTALL_DESTINATION ${YOLOCPP_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/yolocppConfigVersion.cmake VERSION ${PROJECT_VERSION}
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/yolocppConfig.cmake ${PROJECT_BINARY_DIR}/yolocppConfigVersion.cmake
        DESTINATION ${YOLOCPP_CMAKE_DIR})
