# Compiles cfg/default.yaml and cfg/models/*.yaml into the library (yolocpp::embedded::find(name)).
file(GLOB YOLOCPP_EMBED_FILES CONFIGURE_DEPENDS ${YOLOCPP_CFG_DIR}/default.yaml ${YOLOCPP_CFG_DIR}/models/*.yaml)
set(_gen ${PROJECT_BINARY_DIR}/generated/yolocpp_embedded.cpp)
add_custom_command(
  OUTPUT ${_gen}
  COMMAND ${CMAKE_COMMAND} -DOUT=${_gen} -DROOT=${YOLOCPP_CFG_DIR} -DFILES="${YOLOCPP_EMBED_FILES}"
          -P ${PROJECT_SOURCE_DIR}/cmake/embed.cmake
  DEPENDS ${YOLOCPP_EMBED_FILES} ${PROJECT_SOURCE_DIR}/cmake/embed.cmake
  COMMENT "Embedding cfg/*.yaml")
set(YOLOCPP_EMBEDDED_CPP ${_gen})
