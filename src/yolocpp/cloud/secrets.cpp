#include "yolocpp/cloud/secrets.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <set>

#include "yolocpp/util/error.hpp"
#include "yolocpp/util/fs.hpp"

namespace yolocpp::cloud {

namespace {

std::mutex& secrets_mutex() {
  static std::mutex m;
  return m;
}
std::set<std::string>& secrets() {
  static std::set<std::string> s;
  return s;
}

std::string base64(const std::string& in) {
  static const char* tbl = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    unsigned v = (unsigned char)in[i] << 16 | (unsigned char)in[i + 1] << 8 | (unsigned char)in[i + 2];
    out += tbl[v >> 18 & 63]; out += tbl[v >> 12 & 63]; out += tbl[v >> 6 & 63]; out += tbl[v & 63];
  }
  if (i + 1 == in.size()) {
    unsigned v = (unsigned char)in[i] << 16;
    out += tbl[v >> 18 & 63]; out += tbl[v >> 12 & 63]; out += "==";
  } else if (i + 2 == in.size()) {
    unsigned v = (unsigned char)in[i] << 16 | (unsigned char)in[i + 1] << 8;
    out += tbl[v >> 18 & 63]; out += tbl[v >> 12 & 63]; out += tbl[v >> 6 & 63]; out += '=';
  }
  return out;
}

void replace_all(std::string& text, const std::string& what, const std::string& with) {
  if (what.empty()) return;
  for (size_t p = text.find(what); p != std::string::npos; p = text.find(what, p + with.size()))
    text.replace(p, what.size(), with);
}

std::string trim(std::string s) {
  while (!s.empty() && std::isspace((unsigned char)s.back())) s.pop_back();
  size_t b = 0;
  while (b < s.size() && std::isspace((unsigned char)s[b])) ++b;
  return s.substr(b);
}

}  // namespace

fs::path config_dir() {
  if (const char* e = std::getenv("YOLOCPP_CONFIG_DIR"); e && *e) return e;
  if (const char* e = std::getenv("XDG_CONFIG_HOME"); e && *e) return fs::path(e) / "yolocpp";
  const char* home = std::getenv("HOME");
  return fs::path(home && *home ? home : ".") / ".config" / "yolocpp";
}

fs::path default_key_file() { return config_dir() / "lambda_api_key"; }

std::string load_api_key(const fs::path& key_file) {
  return load_provider_key("LAMBDA_API_KEY", key_file.empty() ? default_key_file() : key_file, "Lambda",
                           "create one on the Lambda Cloud console's API keys page");
}

fs::path runpod_key_file() { return config_dir() / "runpod_api_key"; }

std::string load_runpod_key(const fs::path& key_file) {
  return load_provider_key("RUNPOD_API_KEY", key_file.empty() ? runpod_key_file() : key_file, "RunPod",
                           "create one on the RunPod console under Settings > API Keys");
}

std::string load_provider_key(const char* env, const fs::path& path, const std::string& who,
                              const std::string& where_to_get) {
  if (const char* e = std::getenv(env); e && *e) {
    std::string key = trim(e);
    register_secret(key);
    return key;
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    throw CloudError("no " + who + " API key: set " + env + " or put the key in " + path.string() +
                     " (mode 0600); " + where_to_get);
  if (!S_ISREG(st.st_mode)) throw CloudError(who + " API key file " + path.string() + " is not a regular file");
  if (st.st_mode & (S_IRWXG | S_IRWXO)) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", (unsigned)(st.st_mode & 07777));
    throw CloudError(who + " API key file " + path.string() + " has mode " + mode +
                     " and is readable by other users; the key controls billing on your whole account. "
                     "Fix: chmod 600 " + path.string());
  }
  std::string key = trim(util::read_file(path));
  if (key.empty()) throw CloudError(who + " API key file " + path.string() + " is empty");
  register_secret(key);
  return key;
}

void save_api_key(const std::string& key, const fs::path& key_file) {
  fs::path path = key_file.empty() ? default_key_file() : key_file;
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  // Not util::AtomicFile: that opens with the default umask, and the key must never exist world-readable,
  // not even as a temporary. Same temp + fsync + rename discipline, with O_CREAT mode 0600.
  fs::path tmp = path;
  tmp += ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw IoError("cannot write Lambda API key file " + tmp.string());
  ::fchmod(fd, 0600);  // O_CREAT mode is masked by umask only downwards, but an existing file keeps its mode
  std::string data = trim(key) + "\n";
  bool ok = ::write(fd, data.data(), data.size()) == (ssize_t)data.size() && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    throw IoError("cannot write Lambda API key file " + path.string());
  }
  register_secret(trim(key));
}

void register_secret(const std::string& value) {
  if (value.size() < 6) return;
  std::lock_guard<std::mutex> lk(secrets_mutex());
  secrets().insert(value);
}

std::string redact(std::string text) {
  std::set<std::string> s;
  {
    std::lock_guard<std::mutex> lk(secrets_mutex());
    s = secrets();
  }
  for (const auto& v : s) text = redact(std::move(text), v);
  return text;
}

std::string redact(std::string text, const std::string& secret) {
  if (secret.size() < 6) return text;
  replace_all(text, secret, "[REDACTED]");
  replace_all(text, base64(secret + ":"), "[REDACTED]");  // HTTP Basic form of the key
  return text;
}

}  // namespace yolocpp::cloud
