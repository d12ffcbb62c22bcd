# nomnom_add_plugin(<name> <source>... [OUTPUT_DIRECTORY <dir>])
#
# Builds a plugin the host can dlopen: a MODULE library named exactly <name>.so (no "lib" prefix,
# so the file name matches the plugin name) whose own symbols are hidden except the entry symbol
# that NOMNOM_EXPORT marks, so that two plugins loaded in one host cannot bind to each other's
# code. Shared by the in-tree build and the installed nomnom package so that shipped, test and
# third-party plugins are built the same way.
function(nomnom_add_plugin name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "OUTPUT_DIRECTORY" "")
  if(NOT arg_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "nomnom_add_plugin(${name}): no source files given")
  endif()

  add_library(${name} MODULE ${arg_UNPARSED_ARGUMENTS})
  target_link_libraries(${name} PRIVATE nomnom::sdk)
  set_target_properties(${name} PROPERTIES
    PREFIX ""
    C_VISIBILITY_PRESET hidden
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  # nomnom/plugin.hpp needs C++20; a pure C plugin in a C-only project must not require a C++
  # compiler.
  get_property(languages GLOBAL PROPERTY ENABLED_LANGUAGES)
  if(CXX IN_LIST languages)
    target_compile_features(${name} PRIVATE cxx_std_20)
  endif()
  # GCC emits STB_GNU_UNIQUE symbols for inline statics in libstdc++ templates, and one such
  # symbol makes dlclose a no-op: a replaced plugin would then stay mapped after every reload.
  target_compile_options(${name} PRIVATE $<$<COMPILE_LANG_AND_ID:CXX,GNU>:-fno-gnu-unique>)
  if(arg_OUTPUT_DIRECTORY)
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY "${arg_OUTPUT_DIRECTORY}")
  endif()
endfunction()
