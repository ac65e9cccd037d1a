#include <iostream>

#include "lpmon_cli.hpp"

int main(int argc, char** argv) {
  return lpmon::cli::run(argc, argv, std::cout, std::cerr);
}
