// Error types, one per domain (public: yolocpp::Detector throws them; only the standard library here). Each
// message already names the file, line or setting and the fix: the CLI prints what() on one line and exits
// non-zero, never a stack trace.
#pragma once
#include <stdexcept>
#include <string>

namespace yolocpp {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct ConfigError : Error { using Error::Error; };   // bad setting / key / value
struct DataError : Error { using Error::Error; };     // dataset yaml, images, labels, archives
struct ModelError : Error { using Error::Error; };    // model yaml, weights, checkpoints
struct IoError : Error { using Error::Error; };       // filesystem, network, formats
struct CloudError : Error { using Error::Error; };    // provider API, SSH, remote job

}  // namespace yolocpp
