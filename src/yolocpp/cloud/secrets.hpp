// The provider API keys (Lambda, RunPod): where they come from, how they are stored, and how they are kept out of
// every message.
// The key can launch and terminate billable machines on the whole account (spec §1.2, §4.4: no scoped keys),
// so it is never printed, logged, put in argv or written anywhere but the user's own 0600 key file.
#pragma once
#include <filesystem>
#include <string>

namespace yolocpp::cloud {

namespace fs = std::filesystem;

// $YOLOCPP_CONFIG_DIR, else $XDG_CONFIG_HOME/yolocpp, else ~/.config/yolocpp.
fs::path config_dir();
// config_dir()/lambda_api_key.
fs::path default_key_file();

// LAMBDA_API_KEY when set and non-empty, else the key file (default_key_file() when `key_file` is empty).
// The file must be a regular file readable by the owner only: a group/world-readable file is refused with a
// message naming the file and the `chmod 600` fix (the key must not leak to other local users). Throws
// CloudError when there is no key at all, naming both places. Registers the key with register_secret().
std::string load_api_key(const fs::path& key_file = {});

// The same rules for any provider: `env` when set and non-empty, else `path` (0600, owner-only). `who` names the
// provider in messages, `where_to_get` says where a key is created.
std::string load_provider_key(const char* env, const fs::path& path, const std::string& who,
                              const std::string& where_to_get);
// config_dir()/runpod_api_key; RUNPOD_API_KEY, else that file.
fs::path runpod_key_file();
std::string load_runpod_key(const fs::path& key_file = {});

// Writes the key file atomically, created with mode 0600 from the start (never briefly world-readable).
void save_api_key(const std::string& key, const fs::path& key_file = {});

// Process-wide list of secrets to scrub from text (API key, generated private keys, tokens). Registering
// the same value twice is harmless; values shorter than 6 characters are ignored (they would redact noise).
void register_secret(const std::string& value);
// `text` with every registered secret (and its HTTP Basic base64 form "<key>:") replaced by "[REDACTED]".
std::string redact(std::string text);
// Same, with one extra secret that need not be registered.
std::string redact(std::string text, const std::string& secret);

}  // namespace yolocpp::cloud
