# yolocpp_module(NAME [TORCH] [DIR sub/folder | FILES a/b.cpp ...] [COMPONENT detector|train|cloud]
#                [EXPORT_NAME n] [DEPS a b ...] [PRIVATE_DEPS ...])
# One static library per folder of src/yolocpp (DIR defaults to NAME), or per named set of files inside
# folders (FILES, paths relative to src/yolocpp): that is how a folder holding two concepts gives one of them
# its own target without moving files. Each .cpp belongs to exactly one module: the one with the most
# specific claim (a FILES entry beats a DIR, a deeper DIR beats its parent), whatever the call order; so a
# sub-folder module (data/augment) or a FILES module (engine/predictor.cpp) takes its sources away from the
# folder module around it by itself.
# The call also registers the module: install and the CMake package (cmake/YolocppInstall.cmake) export it in
# its COMPONENT (default train), yolocpp_finish_modules() adds it to yolocpp::<component> and yolocpp::yolocpp,
# and tests/CMakeLists.txt builds tests/NAME/ for it when that folder exists. A new module is one call plus
# its folder.
# TORCH modules reuse one precompiled LibTorch header, so each heavy TU skips re-parsing torch.
set(YOLOCPP_COMPONENTS detector train cloud)

function(_yolocpp_claim_len file claim out)
  set(len -1)
  if(file STREQUAL claim)
    set(len 100000)  # a file named by FILES
  else()
    string(LENGTH "${claim}/" n)
    string(SUBSTRING "${file}" 0 ${n} head)
    if(head STREQUAL "${claim}/")
      set(len ${n})
    endif()
  endif()
  set(${out} ${len} PARENT_SCOPE)
endfunction()

# Gives every registered module the candidate files it has the most specific claim on.
function(_yolocpp_assign_sources)
  get_property(mods GLOBAL PROPERTY YOLOCPP_MODULES)
  foreach(m ${mods})
    get_property(cands GLOBAL PROPERTY YOLOCPP_CANDIDATES_${m})
    get_property(claims GLOBAL PROPERTY YOLOCPP_CLAIMS_${m})
    set(mine "")
    foreach(f ${cands})
      set(best_len -1)
      set(best "")
      foreach(o ${mods})
        get_property(oc GLOBAL PROPERTY YOLOCPP_CLAIMS_${o})
        foreach(c ${oc})
          _yolocpp_claim_len("${f}" "${c}" len)
          if(len GREATER best_len)
            set(best_len ${len})
            set(best ${o})
          endif()
        endforeach()
      endforeach()
      if(best STREQUAL m)
        list(APPEND mine ${f})
      endif()
    endforeach()
    # Sources added otherwise (target_sources: generated files) stay.
    get_target_property(srcs yolocpp_${m} SOURCES)
    list(REMOVE_ITEM srcs ${cands} ${YOLOCPP_EMPTY_CPP})
    list(APPEND srcs ${mine})
    if(NOT srcs)
      set(srcs ${YOLOCPP_EMPTY_CPP})
    endif()
    set_property(TARGET yolocpp_${m} PROPERTY SOURCES ${srcs})
  endforeach()
endfunction()

function(yolocpp_module name)
  cmake_parse_arguments(M "TORCH" "DIR;COMPONENT;EXPORT_NAME" "DEPS;PRIVATE_DEPS;FILES" ${ARGN})
  set(root ${PROJECT_SOURCE_DIR}/src/yolocpp)
  if(NOT M_COMPONENT)
    set(M_COMPONENT train)
  endif()
  if(NOT M_COMPONENT IN_LIST YOLOCPP_COMPONENTS)
    message(FATAL_ERROR "yolocpp_module(${name}): COMPONENT ${M_COMPONENT} is not one of ${YOLOCPP_COMPONENTS}")
  endif()
  if(M_FILES)
    list(TRANSFORM M_FILES PREPEND ${root}/ OUTPUT_VARIABLE claims)
    set(cands ${claims})
    foreach(f ${cands})
      if(NOT EXISTS ${f})
        message(FATAL_ERROR "yolocpp_module(${name}): ${f} does not exist")
      endif()
    endforeach()
  else()
    if(NOT M_DIR)
      set(M_DIR ${name})
    endif()
    set(claims ${root}/${M_DIR})
    file(GLOB_RECURSE cands CONFIGURE_DEPENDS ${root}/${M_DIR}/*.cpp)
  endif()
  set_property(GLOBAL APPEND PROPERTY YOLOCPP_MODULES ${name})
  set_property(GLOBAL PROPERTY YOLOCPP_CLAIMS_${name} ${claims})
  set_property(GLOBAL PROPERTY YOLOCPP_CANDIDATES_${name} ${cands})
  set_property(GLOBAL PROPERTY YOLOCPP_COMPONENT_${name} ${M_COMPONENT})
  set_property(GLOBAL PROPERTY YOLOCPP_TORCH_${name} ${M_TORCH})

  add_library(yolocpp_${name} STATIC ${YOLOCPP_EMPTY_CPP})
  _yolocpp_assign_sources()
  # Source-tree include paths while building; the installed headers once installed.
  target_include_directories(yolocpp_${name} PUBLIC
    "$<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/src;${PROJECT_SOURCE_DIR}/include;${PROJECT_BINARY_DIR}/generated>"
    "$<INSTALL_INTERFACE:include>")
  target_compile_options(yolocpp_${name} PRIVATE -Wall -Wextra -Wno-unused-parameter)
  target_link_libraries(yolocpp_${name} PUBLIC ${M_DEPS})
  if(M_PRIVATE_DEPS)
    target_link_libraries(yolocpp_${name} PRIVATE ${M_PRIVATE_DEPS})
  endif()
  if(M_EXPORT_NAME)
    set_target_properties(yolocpp_${name} PROPERTIES EXPORT_NAME ${M_EXPORT_NAME})
  endif()
  if(M_TORCH)
    target_link_libraries(yolocpp_${name} PUBLIC yolocpp_torch_deps)
    target_precompile_headers(yolocpp_${name} REUSE_FROM yolocpp_pch)
  endif()
endfunction()

# After the last yolocpp_module(): one target per component and their union, each with the name an installed
# package gives it. yolocpp::detector and yolocpp::cloud are the modules of that name (which link the rest of
# their component); yolocpp::train is the union of the train component's modules.
function(yolocpp_finish_modules)
  get_property(mods GLOBAL PROPERTY YOLOCPP_MODULES)
  add_library(yolocpp_train INTERFACE)
  set_target_properties(yolocpp_train PROPERTIES EXPORT_NAME train)
  add_library(yolocpp INTERFACE)
  foreach(m ${mods})
    get_property(c GLOBAL PROPERTY YOLOCPP_COMPONENT_${m})
    if(c STREQUAL "train")
      target_link_libraries(yolocpp_train INTERFACE yolocpp_${m})
    endif()
    target_link_libraries(yolocpp INTERFACE yolocpp_${m})
  endforeach()
  add_library(yolocpp::yolocpp ALIAS yolocpp)
  add_library(yolocpp::train ALIAS yolocpp_train)
  add_library(yolocpp::detector ALIAS yolocpp_detector)
  add_library(yolocpp::cloud ALIAS yolocpp_cloud)
endfunction()
