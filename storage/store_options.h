// StoreOptions: everything the token store needs to know, owned by storage.
// The application maps its configuration onto it (service/main.cc); storage
// includes nothing from service/.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "absl/time/time.h"
#include "storage/crypto.h"

namespace b24::storage {

// Table and column names of the token table: the seed table of the PHP
// package simple-api-bitrix24 by default, configurable so an existing table
// works as it is.
struct StoreColumns {
  std::string table = "b24_portals";
  std::string id = "id";
  std::string member_id = "member_id";
  std::string access_token = "access_token";
  std::string expires_in = "expires_in";
  std::string application_token = "application_token";
  std::string refresh_token = "refresh_token";
  std::string domain = "domain";
  std::string client_endpoint = "client_endpoint";
  std::string client_id = "client_id";
  std::string client_secret = "client_secret";
};

struct StoreOptions {
  // SOCI connection string: sqlite3://db=FILE, postgresql://host=.. dbname=..,
  // mysql://host=.. db=.., odbc://DRIVER={..};SERVER=..;... (docs/storage.md).
  std::string connection = "sqlite3://db=bitrix24-service.db";
  // Database connections.
  int pool_size = 4;
  StoreColumns columns;
  // The environment variable holding the AES-256 key (docs/storage.md).
  std::string encryption_key_env = "B24_ENCRYPTION_KEY";
  std::optional<Keyring> keyring;  // nullopt: values are written in plaintext
  // When the table does not exist, create it (as `schema init` would) instead
  // of failing with FAILED_PRECONDITION.
  bool create_if_missing = false;
  // The time written to b24_updated_at; empty = the wall clock.
  std::function<absl::Time()> now;
};

}  // namespace b24::storage
