#include "storage/crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace b24::storage {
namespace {

constexpr absl::string_view kPrefix = "enc:";
constexpr absl::string_view kPrefixV1 = "enc:v1:";
constexpr size_t kKeyBytes = 32, kNonceBytes = 12, kTagBytes = 16, kMaxIdChars = 16;

using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

bool ValidId(absl::string_view id) {
  if (id.empty() || id.size() > kMaxIdChars) return false;
  for (char c : id) {
    if (!absl::ascii_isalnum(c) && c != '_' && c != '-') return false;
  }
  return true;
}

bool DecodeKey(absl::string_view text, std::string* key) {
  bool hex = text.size() == 2 * kKeyBytes;
  for (char c : text) hex = hex && absl::ascii_isxdigit(c);
  if (hex) {
    *key = absl::HexStringToBytes(text);
    return true;
  }
  return (absl::Base64Unescape(text, key) || absl::WebSafeBase64Unescape(text, key)) && key->size() == kKeyBytes;
}

struct Parsed {
  absl::string_view id;
  std::string blob;  // nonce | ciphertext | tag
};

// "enc:v1:<id>:<base64>" → parts; FAILED_PRECONDITION for anything else.
absl::StatusOr<Parsed> ParseStored(absl::string_view stored) {
  if (!absl::StartsWith(stored, kPrefixV1)) {
    return absl::FailedPreconditionError("stored value has an unknown encryption format version");
  }
  absl::string_view rest = stored.substr(kPrefixV1.size());
  size_t colon = rest.find(':');
  Parsed p;
  if (colon == absl::string_view::npos || !absl::Base64Unescape(rest.substr(colon + 1), &p.blob) ||
      p.blob.size() < kNonceBytes + kTagBytes) {
    return absl::DataLossError("stored encrypted value is malformed");
  }
  p.id = rest.substr(0, colon);
  return p;
}

}  // namespace

absl::StatusOr<Keyring> Keyring::Parse(absl::string_view spec) {
  Keyring ring;
  int n = 0;
  for (absl::string_view entry : absl::StrSplit(spec, ',', absl::SkipWhitespace())) {
    ++n;
    entry = absl::StripAsciiWhitespace(entry);
    std::string id, key;
    size_t colon = entry.find(':');
    absl::string_view key_text = colon == absl::string_view::npos ? entry : entry.substr(colon + 1);
    if (!DecodeKey(absl::StripAsciiWhitespace(key_text), &key)) {
      return absl::InvalidArgumentError(
          absl::StrCat("encryption key #", n, " is not 32 bytes written as 64 hex digits or base64"));
    }
    if (colon != absl::string_view::npos) {
      id = std::string(absl::StripAsciiWhitespace(entry.substr(0, colon)));
      if (!ValidId(id)) {
        return absl::InvalidArgumentError(
            absl::StrCat("encryption key #", n, ": the id must be 1-16 characters of [A-Za-z0-9_-]"));
      }
    } else {
      unsigned char digest[SHA256_DIGEST_LENGTH];
      SHA256(reinterpret_cast<const unsigned char*>(key.data()), key.size(), digest);
      id =
          absl::StrCat("k", absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(digest), 4))).substr(0, 8);
    }
    for (const auto& [other, unused] : ring.keys_) {
      if (other == id) return absl::InvalidArgumentError(absl::StrCat("encryption key id '", id, "' is repeated"));
    }
    ring.keys_.emplace_back(std::move(id), std::move(key));
  }
  if (ring.keys_.empty()) return absl::InvalidArgumentError("no encryption key given");
  return ring;
}

Keyring::~Keyring() {
  for (auto& [id, key] : keys_) OPENSSL_cleanse(key.data(), key.size());
}

std::vector<std::string> Keyring::ids() const {
  std::vector<std::string> out;
  for (const auto& [id, key] : keys_) out.push_back(id);
  return out;
}

absl::StatusOr<std::string> Keyring::Encrypt(absl::string_view plaintext, absl::string_view context) const {
  const std::string& key = keys_.front().second;
  std::string blob(kNonceBytes + plaintext.size() + kTagBytes, '\0');
  auto* out = reinterpret_cast<unsigned char*>(blob.data());
  CipherCtx ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  int len = 0, total = 0;
  bool ok =
      ctx && RAND_bytes(out, kNonceBytes) == 1 &&
      EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, kNonceBytes, nullptr) == 1 &&
      EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr, reinterpret_cast<const unsigned char*>(key.data()), out) == 1 &&
      EVP_EncryptUpdate(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(context.data()),
                        static_cast<int>(context.size())) == 1 &&
      EVP_EncryptUpdate(ctx.get(), out + kNonceBytes, &len, reinterpret_cast<const unsigned char*>(plaintext.data()),
                        static_cast<int>(plaintext.size())) == 1;
  total = len;
  ok = ok && EVP_EncryptFinal_ex(ctx.get(), out + kNonceBytes + total, &len) == 1 &&
       EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagBytes, out + kNonceBytes + total + len) == 1;
  if (!ok) return absl::InternalError("AES-256-GCM encryption failed");
  return absl::StrCat(kPrefixV1, keys_.front().first, ":", absl::Base64Escape(blob));
}

absl::StatusOr<std::string> Keyring::Decrypt(absl::string_view stored, absl::string_view context) const {
  if (!IsEncryptedValue(stored)) return std::string(stored);
  absl::StatusOr<Parsed> p = ParseStored(stored);
  if (!p.ok()) return p.status();
  const std::string* key = nullptr;
  for (const auto& [id, k] : keys_) {
    if (id == p->id) key = &k;
  }
  if (key == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("value is encrypted with key '", p->id, "', which is not among the configured keys"));
  }
  auto* in = reinterpret_cast<unsigned char*>(p->blob.data());
  size_t n = p->blob.size() - kNonceBytes - kTagBytes;
  std::string plain(n, '\0');
  CipherCtx ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  int len = 0;
  bool ok =
      ctx && EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, kNonceBytes, nullptr) == 1 &&
      EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr, reinterpret_cast<const unsigned char*>(key->data()), in) == 1 &&
      EVP_DecryptUpdate(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(context.data()),
                        static_cast<int>(context.size())) == 1 &&
      EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(plain.data()), &len, in + kNonceBytes,
                        static_cast<int>(n)) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagBytes, in + kNonceBytes + n) == 1 &&
      EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(plain.data()) + len, &len) == 1;
  if (!ok) {
    OPENSSL_cleanse(plain.data(), plain.size());
    return absl::DataLossError(
        absl::StrCat("value encrypted with key '", p->id, "' does not authenticate (wrong key or corrupted)"));
  }
  return plain;
}

bool Keyring::IsCurrent(absl::string_view stored) const { return KeyIdOf(stored) == primary_id(); }

bool IsEncryptedValue(absl::string_view stored) { return absl::StartsWith(stored, kPrefix); }

std::string KeyIdOf(absl::string_view stored) {
  if (!absl::StartsWith(stored, kPrefixV1)) return "";
  absl::string_view rest = stored.substr(kPrefixV1.size());
  return std::string(rest.substr(0, rest.find(':')));
}

absl::StatusOr<std::optional<Keyring>> KeyringFromEnvironment(const std::string& variable,
                                                              const std::map<std::string, std::string>& env) {
  auto it = env.find(variable);
  if (it == env.end() || absl::StripAsciiWhitespace(it->second).empty()) return std::optional<Keyring>();
  absl::StatusOr<Keyring> ring = Keyring::Parse(it->second);
  if (!ring.ok()) return absl::InvalidArgumentError(absl::StrCat(variable, ": ", ring.status().message()));
  return std::optional<Keyring>(*std::move(ring));
}

}  // namespace b24::storage
