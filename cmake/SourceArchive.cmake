# yolocpp's own source, packed at build time and installed beside the binary (share/yolocpp/src), so that
# `cloud train bootstrap=source` ships exactly the running version's tree to the instance - from an installed
# yolocpp too, never from whatever directory the user happens to be in. The archive holds what a train-only
# build needs (no tests/, bench/, examples/) plus yolocpp-src/YOLOCPP_SOURCE = "yolocpp <version>", which the
# client checks before uploading. Same sources -> same bytes (sorted names, fixed owner and mtime, gzip -n).
include(GNUInstallDirs)
file(GLOB_RECURSE YOLOCPP_ARCHIVE_FILES CONFIGURE_DEPENDS RELATIVE ${PROJECT_SOURCE_DIR}
     ${PROJECT_SOURCE_DIR}/src/*.cpp ${PROJECT_SOURCE_DIR}/src/*.hpp ${PROJECT_SOURCE_DIR}/src/*.in
     ${PROJECT_SOURCE_DIR}/src/*.txt ${PROJECT_SOURCE_DIR}/include/*.hpp ${PROJECT_SOURCE_DIR}/cmake/*
     ${PROJECT_SOURCE_DIR}/cfg/*.yaml)
list(APPEND YOLOCPP_ARCHIVE_FILES CMakeLists.txt scripts/install-deps)
list(SORT YOLOCPP_ARCHIVE_FILES)
set(YOLOCPP_SOURCE_ARCHIVE ${PROJECT_BINARY_DIR}/share/yolocpp/src/yolocpp-src.tar.gz)
set(_list ${PROJECT_BINARY_DIR}/source-archive-files.txt)
string(REPLACE ";" "\n" _lines "${YOLOCPP_ARCHIVE_FILES}")
file(WRITE ${_list}.tmp "${_lines}\n")
execute_process(COMMAND ${CMAKE_COMMAND} -E copy_if_different ${_list}.tmp ${_list})
list(TRANSFORM YOLOCPP_ARCHIVE_FILES PREPEND ${PROJECT_SOURCE_DIR}/ OUTPUT_VARIABLE _deps)
add_custom_command(
  OUTPUT ${YOLOCPP_SOURCE_ARCHIVE}
  COMMAND ${CMAKE_COMMAND} -DSRC=${PROJECT_SOURCE_DIR} -DLIST=${_list} -DOUT=${YOLOCPP_SOURCE_ARCHIVE}
          -DVERSION=${PROJECT_VERSION} -P ${PROJECT_SOURCE_DIR}/cmake/source_archive.cmake
  DEPENDS ${_deps} ${_list} ${PROJECT_SOURCE_DIR}/cmake/source_archive.cmake
  COMMENT "Packing yolocpp's own source for cloud bootstrap=source")
add_custom_target(yolocpp_source_archive ALL DEPENDS ${YOLOCPP_SOURCE_ARCHIVE})
install(FILES ${YOLOCPP_SOURCE_ARCHIVE} DESTINATION ${CMAKE_INSTALL_DATADIR}/yolocpp/src)
