#include "storage/crypto.h"

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace b24::storage {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr char kHexKey[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const std::string kBase64Key = absl::Base64Escape(std::string(32, 'k'));

Keyring Ring(const std::string& spec) {
  absl::StatusOr<Keyring> r = Keyring::Parse(spec);
  EXPECT_TRUE(r.ok()) << r.status();
  return *std::move(r);
}

TEST(KeyringTest, RoundTripsAndNamesTheKey) {
  Keyring ring = Ring(absl::StrCat("main:", kHexKey));
  absl::StatusOr<std::string> sealed = ring.Encrypt("refresh-token-value", "m1/refresh_token");
  ASSERT_TRUE(sealed.ok()) << sealed.status();
  EXPECT_THAT(*sealed, StartsWith("enc:v1:main:"));
  EXPECT_THAT(*sealed, Not(HasSubstr("refresh-token-value")));
  EXPECT_EQ(KeyIdOf(*sealed), "main");
  EXPECT_TRUE(ring.IsCurrent(*sealed));
  absl::StatusOr<std::string> plain = ring.Decrypt(*sealed, "m1/refresh_token");
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(*plain, "refresh-token-value");
}

TEST(KeyringTest, FreshNonceEveryTime) {
  Keyring ring = Ring(kHexKey);
  EXPECT_NE(*ring.Encrypt("same", "c"), *ring.Encrypt("same", "c"));
}

TEST(KeyringTest, PlaintextPassesThrough) {
  Keyring ring = Ring(kHexKey);
  EXPECT_EQ(*ring.Decrypt("written-before-encryption", "c"), "written-before-encryption");
  EXPECT_FALSE(ring.IsCurrent("written-before-encryption"));
  EXPECT_FALSE(IsEncryptedValue("abc"));
  EXPECT_EQ(KeyIdOf("abc"), "");
}

TEST(KeyringTest, ContextIsBound) {
  Keyring ring = Ring(kHexKey);
  std::string sealed = *ring.Encrypt("secret", "portal-a/access_token");
  absl::StatusOr<std::string> moved = ring.Decrypt(sealed, "portal-b/access_token");
  EXPECT_EQ(moved.status().code(), absl::StatusCode::kDataLoss);
}

TEST(KeyringTest, TamperingIsDetected) {
  Keyring ring = Ring(kHexKey);
  std::string sealed = *ring.Encrypt("secret", "c");
  std::string prefix = sealed.substr(0, sealed.rfind(':') + 1);
  std::string blob;
  ASSERT_TRUE(absl::Base64Unescape(sealed.substr(prefix.size()), &blob));
  blob[14] ^= 1;
  EXPECT_EQ(ring.Decrypt(prefix + absl::Base64Escape(blob), "c").status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(ring.Decrypt(prefix + "!!!", "c").status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(ring.Decrypt("enc:v9:x:AAAA", "c").status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(KeyringTest, RotationReadsOldKeysWritesWithFirst) {
  std::string old_key = kHexKey, new_key = kBase64Key;
  Keyring before = Ring(absl::StrCat("old:", old_key));
  std::string old_value = *before.Encrypt("t1", "c");
  Keyring after = Ring(absl::StrCat("new:", new_key, ", old:", old_key));
  EXPECT_EQ(after.primary_id(), "new");
  EXPECT_EQ(*after.Decrypt(old_value, "c"), "t1");
  EXPECT_FALSE(after.IsCurrent(old_value));
  std::string new_value = *after.Encrypt("t2", "c");
  EXPECT_EQ(KeyIdOf(new_value), "new");
  // Once the old key is gone its values no longer read, with a message naming it.
  Keyring only_new = Ring(absl::StrCat("new:", new_key));
  absl::StatusOr<std::string> lost = only_new.Decrypt(old_value, "c");
  EXPECT_EQ(lost.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(lost.status().message(), HasSubstr("'old'"));
}

TEST(KeyringTest, BareKeysGetStableDerivedIds) {
  Keyring a = Ring(kHexKey);
  Keyring b = Ring(absl::StrCat(kBase64Key, ",", kHexKey));
  EXPECT_EQ(a.primary_id().size(), 8u);
  EXPECT_THAT(a.primary_id(), StartsWith("k"));
  EXPECT_EQ(b.ids()[1], a.primary_id());
  EXPECT_EQ(*b.Decrypt(*a.Encrypt("x", "c"), "c"), "x");
}

TEST(KeyringTest, AcceptsUrlSafeAndUnpaddedBase64) {
  std::string key(32, '\xfb');
  std::string websafe = absl::WebSafeBase64Escape(key);  // unpadded, uses - and _
  EXPECT_TRUE(Keyring::Parse(websafe).ok());
  EXPECT_TRUE(Keyring::Parse(absl::Base64Escape(key)).ok());
}

TEST(KeyringTest, RejectsBadSpecsWithoutQuotingKeys) {
  for (const char* bad : {"", " , ", "short", "id:c2hvcnQ=", "bad id!:" /* + key below */}) {
    absl::StatusOr<Keyring> r = Keyring::Parse(bad);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  absl::StatusOr<Keyring> r = Keyring::Parse(absl::StrCat("bad id!:", kHexKey));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), Not(HasSubstr(kHexKey)));
  r = Keyring::Parse(absl::StrCat("a:", kHexKey, ",a:", kBase64Key));
  EXPECT_THAT(r.status().message(), HasSubstr("repeated"));
  r = Keyring::Parse(std::string(kHexKey).substr(0, 60));
  EXPECT_THAT(r.status().message(), Not(HasSubstr("0001020304")));
}

TEST(KeyringTest, EncryptedTokensFitTheSeedColumns) {
  Keyring ring = Ring(absl::StrCat("sixteen-chars-id:", kHexKey));
  EXPECT_LE(ring.Encrypt(std::string(143, 'a'), "c")->size(), 255u);
  EXPECT_GT(ring.Encrypt(std::string(144, 'a'), "c")->size(), 255u);
  Keyring derived = Ring(kHexKey);
  EXPECT_LE(derived.Encrypt(std::string(149, 'a'), "c")->size(), 255u);
}

TEST(KeyringFromEnvironmentTest, UnsetMeansOff) {
  auto none = KeyringFromEnvironment("B24_ENCRYPTION_KEY", {});
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  auto set = KeyringFromEnvironment("MY_KEY", {{"MY_KEY", kHexKey}});
  ASSERT_TRUE(set.ok());
  EXPECT_TRUE(set->has_value());
  auto bad = KeyringFromEnvironment("MY_KEY", {{"MY_KEY", "nope"}});
  EXPECT_THAT(bad.status().message(), HasSubstr("MY_KEY"));
}

}  // namespace
}  // namespace b24::storage
