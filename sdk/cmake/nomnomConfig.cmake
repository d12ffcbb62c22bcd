include("${CMAKE_CURRENT_LIST_DIR}/nomnomTargets.cmake")
include("${CMAKE_CURRENT_LIST_DIR}/nomnomPlugin.cmake")
