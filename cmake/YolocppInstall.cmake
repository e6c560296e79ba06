# Install rules and the CMake package: after `cmake --install build --prefix P`, another project does
#   find_package(yolocpp REQUIRED)        # with CMAKE_PREFIX_PATH=P
#   target_link_libraries(app PRIVATE yolocpp::yolocpp)
# and includes <yolocpp/detector.hpp>. The module libraries are static, so the package re-finds their
# dependencies (LibTorch, OpenCV, ...) through find_dependency in yolocppConfig.cmake.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(YOLOCPP_INSTALL_LIBS yolocpp_util yolocpp_config yolocpp_data yolocpp_augment yolocpp_nn yolocpp_io
    yolocpp_metrics yolocpp_loss yolocpp_engine yolocpp_cloud)

# The modules publish source-tree include paths; an installed package must point at the installed headers.
foreach(t ${YOLOCPP_INSTALL_LIBS})
  set_property(TARGET ${t} PROPERTY INTERFACE_INCLUDE_DIRECTORIES
    "$<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/src;${PROJECT_SOURCE_DIR}/include;${PROJECT_BINARY_DIR}/generated>"
    "$<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>")
endforeach()

# The same name inside this build tree as in an installed package.
add_library(yolocpp::yolocpp ALIAS yolocpp)

install(TARGETS ${YOLOCPP_INSTALL_LIBS} yolocpp yolocpp_torch_deps
        EXPORT yolocppTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

# Public headers: the Detector API and the error types it throws (self-contained, OpenCV + std only).
install(FILES ${PROJECT_SOURCE_DIR}/include/yolocpp/detector.hpp DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/yolocpp)
install(FILES ${PROJECT_SOURCE_DIR}/src/yolocpp/util/error.hpp DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/yolocpp/util)
install(FILES ${PROJECT_BINARY_DIR}/generated/yolocpp/version.hpp DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/yolocpp)

set(YOLOCPP_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/yolocpp)
install(EXPORT yolocppTargets NAMESPACE yolocpp:: DESTINATION ${YOLOCPP_CMAKE_DIR})
# Where this build found LibTorch, so a consumer finds the same one without being told.
set(YOLOCPP_TORCH_DIR_HINT "${Torch_DIR}")
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/yolocppConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/yolocppConfig.cmake INSTALL_DESTINATION ${YOLOCPP_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/yolocppConfigVersion.cmake VERSION ${PROJECT_VERSION}
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/yolocppConfig.cmake ${PROJECT_BINARY_DIR}/yolocppConfigVersion.cmake
        DESTINATION ${YOLOCPP_CMAKE_DIR})
