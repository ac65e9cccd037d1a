#pragma once

#include <chrono>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace lpmon::gate {

// One series of an instant query's answer: its labels and its values (one for a vector,
// every sample in the range for a matrix, in time order).
struct Series {
  std::map<std::string, std::string> labels;
  std::vector<double> values;
};

struct QueryResult {
  enum class Type { vector, scalar, matrix };
  Type type = Type::vector;
  std::vector<Series> series;  // a scalar is one series without labels
  std::vector<std::string> warnings;

  // What conditions see as `result`: every value, series by series.
  std::vector<double> values() const;
};

const char* to_string(QueryResult::Type type);

// A query got no answer: the server could not be reached, answered with an HTTP error or
// "status": "error", timed out, or answered something that is not Prometheus' API. The message
// says which, for one line of output.
class QueryError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Where PromQL checks are answered: Prometheus' HTTP API in lpmon, a fake in unit tests.
class QueryBackend {
 public:
  virtual ~QueryBackend() = default;
  // An instant query at the current time. Throws QueryError.
  virtual QueryResult query(const std::string& promql, std::chrono::milliseconds timeout) = 0;
};

}  // namespace lpmon::gate
