#include "yolocpp/cloud/quote.hpp"

#include "yolocpp/util/error.hpp"

namespace yolocpp::cloud::quote {

std::string sh(std::string_view arg) {
  if (arg.find('\0') != std::string_view::npos)
    throw CloudError("a remote command argument contains a NUL byte, which no shell word can carry: '" +
                     std::string(arg.substr(0, arg.find('\0'))) + "\\0...'; remove it");
  std::string out = "'";
  for (char c : arg) {
    // Inside single quotes nothing is special except the closing quote: end the quoted run, add an escaped
    // quote, reopen.
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  out += '\'';
  return out;
}

std::string join(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) {
    if (!out.empty()) out += ' ';
    out += sh(a);
  }
  return out;
}

std::string path(std::string_view p) {
  if (p == "~") return "\"$HOME\"";
  if (p.substr(0, 2) == "~/") return "\"$HOME\"/" + sh(p.substr(2));
  return sh(p);
}

}  // namespace yolocpp::cloud::quote
