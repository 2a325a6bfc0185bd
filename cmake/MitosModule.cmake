# mitos_module(NAME SOURCES <files...> [TESTS <files...>])
#
# Declares a module from its folder: the contract (contract.yaml) and the
# sources of its business logic. From the contract the build generates the
# API header other modules use, the codec, the routes, the remote client,
# the observed decorator, the spec and a contract test (into the build tree,
# regenerated whenever the contract or the generator changes). It makes:
#   mitos_<name>_api  the API (INTERFACE): what another module that needs
#                     this one links;
#   mitos_<name>      the module: only the composition root links it;
#   <name>_test       its tests and the generated contract test, named
#                     "<name>.<Suite>.<Test>" in ctest;
#   fuzz_<name>_decode (MITOS_FUZZ builds) the generated fuzz target: its
#                     requests through the routes of a real instance, with
#                     the modules it needs; seeds in generated/fuzz_seeds.
# The modules a module needs come from its contract's `needs`; it links
# their API targets only, so it cannot include their internals.
find_package(Python3 REQUIRED COMPONENTS Interpreter)
set(MITOS_CONTRACT_DIR ${CMAKE_CURRENT_LIST_DIR}/contract)

function(mitos_module name)
  cmake_parse_arguments(M "" "" "SOURCES;TESTS" ${ARGN})
  set(contract ${CMAKE_CURRENT_SOURCE_DIR}/contract.yaml)
  set(gen ${CMAKE_CURRENT_BINARY_DIR}/generated)
  set(generator ${MITOS_CONTRACT_DIR}/generate.py)
  file(GLOB templates ${MITOS_CONTRACT_DIR}/templates/*.j2)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${contract})
  execute_process(
    COMMAND ${Python3_EXECUTABLE} ${generator} --needs ${contract}
    OUTPUT_VARIABLE needs ERROR_VARIABLE err RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "module ${name}: ${err}")
  endif()

  set(outputs ${gen}/api/${name}/api.h ${gen}/module/${name}/contract.h
              ${gen}/${name}_codec.cpp ${gen}/${name}_contract.cpp
              ${gen}/${name}_contract_test.cpp ${gen}/${name}_fuzz.cpp)
  add_custom_command(
    OUTPUT ${outputs}
    COMMAND ${Python3_EXECUTABLE} ${generator} ${contract} ${gen}
    DEPENDS ${contract} ${generator} ${MITOS_CONTRACT_DIR}/contract.py
            ${MITOS_CONTRACT_DIR}/openapi.py ${templates}
    COMMENT "Generating the ${name} module's bindings from its contract"
    VERBATIM)

  add_library(mitos_${name}_api INTERFACE ${gen}/api/${name}/api.h)
  add_library(mitos::${name}_api ALIAS mitos_${name}_api)
  target_include_directories(mitos_${name}_api INTERFACE ${gen}/api)
  target_link_libraries(mitos_${name}_api INTERFACE mitos::runtime)

  add_library(mitos_${name} STATIC ${M_SOURCES}
    ${gen}/${name}_codec.cpp ${gen}/${name}_contract.cpp)
  add_library(mitos::${name} ALIAS mitos_${name})
  target_include_directories(mitos_${name}
    PUBLIC entry PRIVATE src ${gen}/module)
  target_link_libraries(mitos_${name}
    PUBLIC mitos::${name}_api mitos::runtime PRIVATE mitos_warnings)
  foreach(need ${needs})
    target_link_libraries(mitos_${name} PUBLIC mitos::${need}_api)
  endforeach()
  set_property(GLOBAL APPEND PROPERTY MITOS_MODULE_TARGETS mitos_${name})

  if(MITOS_BUILD_TESTS)
    add_executable(${name}_test ${M_TESTS} ${gen}/${name}_contract_test.cpp)
    target_include_directories(${name}_test PRIVATE src ${gen}/module)
    target_link_libraries(${name}_test PRIVATE mitos_${name} mitos_test_support
      mitos_warnings GTest::gtest_main GTest::gmock)
    foreach(need ${needs})
      target_link_libraries(${name}_test PRIVATE mitos_${need})
    endforeach()
    gtest_discover_tests(${name}_test TEST_PREFIX "${name}." DISCOVERY_TIMEOUT 30)
  endif()

  if(MITOS_FUZZ)
    set(fuzz_libs mitos_${name} mitos_fuzz_support)
    foreach(need ${needs})
      list(APPEND fuzz_libs mitos_${need})
    endforeach()
    mitos_fuzz_target(${name}_decode SOURCES ${gen}/${name}_fuzz.cpp LIBS ${fuzz_libs})
    target_include_directories(fuzz_${name}_decode PRIVATE ${gen}/module)
  endif()
endfunction()
