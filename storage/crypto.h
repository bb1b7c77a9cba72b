// Encryption at rest for the token store: AES-256-GCM (OpenSSL EVP) with a
// keyring, so keys can rotate.
//
// A stored value is either plaintext (rows written before encryption was
// enabled keep reading) or the self-describing text
//   enc:v1:<key id>:<base64(12-byte nonce | ciphertext | 16-byte tag)>
// The key id selects the key, so rows under an old key still read after
// rotation. `context` (the portal's member_id and the field) is bound in as
// GCM associated data: a value copied to another row or column fails to
// decrypt instead of being accepted.
//
// Size: the value grows by 7 + len(id) + 1 characters of framing and base64
// of (28 + n) bytes; a 255-character column holds 143 plaintext characters
// with a 16-character key id (149 with a derived 8-character id). Bitrix24
// tokens are under ~100 characters.
//
// Thread-safety: a Keyring is immutable after Parse(); const methods may be
// called concurrently.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace b24::storage {

class Keyring {
 public:
  // Parses "KEY" or "ID:KEY,ID:KEY,...": KEY is 32 bytes as 64 hex digits or
  // base64 (standard or URL-safe, padding optional); ID is 1-16 characters of
  // [A-Za-z0-9_-]. A KEY without ID gets the id "k" + the first 7 hex digits
  // of its SHA-256, so plain "NEWKEY,OLDKEY" lists rotate too. The first key
  // encrypts new values; all decrypt. INVALID_ARGUMENT (never quoting key
  // material) for a malformed entry or a repeated id.
  static absl::StatusOr<Keyring> Parse(absl::string_view spec);

  Keyring(const Keyring&) = default;
  Keyring& operator=(const Keyring&) = default;
  Keyring(Keyring&&) = default;
  Keyring& operator=(Keyring&&) = default;
  ~Keyring();  // wipes the key bytes

  const std::string& primary_id() const { return keys_.front().first; }
  std::vector<std::string> ids() const;

  // "enc:v1:<primary id>:..." with a fresh random nonce. INTERNAL if OpenSSL fails.
  absl::StatusOr<std::string> Encrypt(absl::string_view plaintext, absl::string_view context) const;
  // Plaintext `stored` values are returned unchanged. FAILED_PRECONDITION for
  // an unknown key id or format version; DATA_LOSS when the value does not
  // authenticate (wrong key, wrong context, corrupted).
  absl::StatusOr<std::string> Decrypt(absl::string_view stored, absl::string_view context) const;
  // True when `stored` is encrypted under the primary key (nothing to re-encrypt).
  bool IsCurrent(absl::string_view stored) const;

 private:
  Keyring() = default;
  std::vector<std::pair<std::string, std::string>> keys_;  // id → 32 key bytes
};

// True for values in the enc: format (whatever the key).
bool IsEncryptedValue(absl::string_view stored);
// The key id of an encrypted value, "" for plaintext.
std::string KeyIdOf(absl::string_view stored);

// The keyring from the environment variable `variable` (config
// store.encryption_key_env): nullopt when it is unset or empty (encryption
// off), INVALID_ARGUMENT naming the variable when it is malformed.
absl::StatusOr<std::optional<Keyring>> KeyringFromEnvironment(const std::string& variable,
                                                              const std::map<std::string, std::string>& env);

}  // namespace b24::storage
