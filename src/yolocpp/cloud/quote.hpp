// Shell quoting for every command string sent to a remote machine. The remote side runs our commands through
// the login user's shell (sshd passes the exec string to `$SHELL -c`), so any path, run name or setting that
// reaches it must be one inert word: a run name like `x; rm -rf ~` must stay a file name.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace yolocpp::cloud::quote {

// POSIX single-quote escaping: 'it'\''s'. Safe for every byte except NUL (which no shell word can hold):
// a NUL throws CloudError naming the argument.
std::string sh(std::string_view arg);

// Each element quoted with sh(), joined by single spaces: a whole argv as one shell command line.
std::string join(const std::vector<std::string>& argv);

// A remote path that may start with "~/": the tilde part stays unquoted ("$HOME"/...) so the shell expands it,
// the rest is quoted. "~" alone is "$HOME".
std::string path(std::string_view p);

}  // namespace yolocpp::cloud::quote
