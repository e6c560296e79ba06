# cmake -DSRC=<source dir> -DLIST=<file list> -DOUT=<archive> -DVERSION=<x.y.z> -P source_archive.cmake
# Copies the listed files under a staging yolocpp-src/, adds the YOLOCPP_SOURCE marker, and packs it
# deterministically; the archive is written to a temporary name and renamed into place.
get_filename_component(_dir ${OUT} DIRECTORY)
set(_stage ${_dir}/stage)
file(REMOVE_RECURSE ${_stage})
file(STRINGS ${LIST} _files)
foreach(f ${_files})
  get_filename_component(_sub ${f} DIRECTORY)
  file(COPY ${SRC}/${f} DESTINATION ${_stage}/yolocpp-src/${_sub})
endforeach()
file(WRITE ${_stage}/yolocpp-src/YOLOCPP_SOURCE "yolocpp ${VERSION}\n")
execute_process(
  COMMAND sh -c "tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -cf - yolocpp-src | gzip -n -9 > '${OUT}.tmp' && mv -f '${OUT}.tmp' '${OUT}'"
  WORKING_DIRECTORY ${_stage} RESULT_VARIABLE _rc)
file(REMOVE_RECURSE ${_stage})
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "packing yolocpp's source archive failed (${_rc})")
endif()
