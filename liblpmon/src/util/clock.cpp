#include "lpmon/util/clock.hpp"

#include <time.h>

#include <cstdio>
#include <ctime>

namespace lpmon {

std::chrono::nanoseconds monotonic_now() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return std::chrono::seconds(now.tv_sec) + std::chrono::nanoseconds(now.tv_nsec);
}

std::string utc_timestamp(std::chrono::system_clock::time_point t, int fraction_digits) {
  const auto micros =
      std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
  // Floor, so that times before 1970 do not get a negative fraction.
  const long long fraction = ((micros % 1000000) + 1000000) % 1000000;
  const std::time_t seconds = static_cast<std::time_t>((micros - fraction) / 1000000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[64];
  const int n =
      std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d", utc.tm_year + 1900,
                    utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec);
  if (fraction_digits == 6) {
    std::snprintf(text + n, sizeof text - n, ".%06lldZ", fraction);
  } else if (fraction_digits == 3) {
    std::snprintf(text + n, sizeof text - n, ".%03lldZ", fraction / 1000);
  } else {
    std::snprintf(text + n, sizeof text - n, "Z");
  }
  return text;
}

std::string seconds_text(std::chrono::nanoseconds d, int decimals) {
  char text[48];
  std::snprintf(text, sizeof text, "%.*f s", decimals, std::chrono::duration<double>(d).count());
  return text;
}

}  // namespace lpmon
